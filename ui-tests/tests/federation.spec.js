// The federation pages in Debian's Chromium: .ci/ui-tests.sh starts a second authority, the
// regional network GB-KENT, and federates it with GB (each imports the other's anchor; GB-KENT
// exports one member, GB one service). The operator reaches the pages with the keyboard alone
// and sees GB-KENT active with what it sends and what GB exports to it; an assessor reads them;
// a member's people are refused; a malformed address gets the not-found page. axe-core's WCAG
// 2.2 A and AA rules report nothing on any of them, and at 320 px nothing scrolls sideways.
import { test, expect } from '@playwright/test'
import * as shared from './helpers.js'
import { setup, signIn, tabTo } from './helpers.js'

const accessible = (page, name) => shared.accessible(page, `federation-${name}`)
const reflows = (page, name) => shared.reflows(page, `federation-${name}`)
const partner = setup.federation.partner

test('federation: the operator reaches the partners by keyboard and sees GB-KENT active', async ({ page }) => {
  await page.goto(`${setup.url}/ui/sign-in`)
  await tabTo(page, () => document.activeElement.id === 'username')
  await page.keyboard.type(setup.people.operator.username)
  await page.keyboard.press('Tab')
  await page.keyboard.type(setup.people.operator.password)
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(`${setup.url}/ui/`)

  await tabTo(page, () => document.activeElement.textContent.trim() === 'Federation')
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(`${setup.url}/ui/federation`)
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Federation')
  const row = page.getByRole('row', { name: new RegExp(partner) })
  await expect(row.locator('.govuk-tag')).toHaveText('Active')
  await expect(row.locator('.govuk-tag')).toHaveClass(/govuk-tag--green/)
  await expect(row).toContainText('1 member, 0 gateways, 0 services')
  await expect(row).toContainText(/Last answer: \d+ (second|minute)s? ago \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)/)
  await expect(row).toContainText(/Expires: in \d+ days?/)
  await accessible(page, 'list')
  await reflows(page, 'list')

  await tabTo(page, () => document.activeElement.textContent.trim() === 'GB-KENT')
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(`${setup.url}/ui/federation/${partner}`)
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(partner)
  await expect(page.locator('code', { hasText: setup.federation.fingerprint })).toBeVisible()
  const policy = (key) => page.locator('.govuk-summary-list__row', { has: page.locator('dt', { hasText: new RegExp(`^${key}$`) }) })
  await expect(policy('Member classes')).toContainText('Nothing')
  await expect(policy('Members')).toContainText('Nothing')
  await expect(policy('Services')).toContainText(setup.federation.exported)
  await expect(policy('State').locator('.govuk-tag')).toHaveText('Active')
  await expect(policy('Received')).toContainText('1 member')
  await accessible(page, 'partner')
  await reflows(page, 'partner')

  // Back to the list by keyboard, through the back link.
  await tabTo(page, () => document.activeElement.classList.contains('govuk-back-link'))
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(`${setup.url}/ui/federation`)

  // A malformed address: the not-found page, saying why.
  const response = await page.goto(`${setup.url}/ui/federation/gb-kent`)
  expect(response.status()).toBe(404)
  await expect(page.locator('main')).toContainText('invalid network identifier')
  await accessible(page, 'not-found')
  await reflows(page, 'not-found')
})

test('federation: an assessor reads the pages, a member-viewer is refused', async ({ page }) => {
  await signIn(page, setup.people.assessor)
  await page.getByRole('link', { name: 'Federation' }).click()
  await expect(page.getByRole('row', { name: new RegExp(partner) })).toBeVisible()
  await accessible(page, 'assessor-list')
  await page.getByRole('button', { name: /Sign out/ }).click()

  await signIn(page, setup.people['member-viewer'])
  await expect(page.getByRole('link', { name: 'Federation' })).toHaveCount(0)
  const response = await page.goto(`${setup.url}/ui/federation/${partner}`)
  expect(response.status()).toBe(403)
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('You do not have access to this page')
  await accessible(page, 'viewer-refused')
})
