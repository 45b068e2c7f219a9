// Every page of the authority's web UI, as each role sees it, in Debian's Chromium: axe-core's
// WCAG 2.2 A and AA rules report nothing, a 320 px viewport needs no horizontal scrolling, and
// sign-in, opening a member and reading an SLA report work with the keyboard alone. .ci/ui-tests.sh starts the network
// and writes the setup file.
import { test, expect } from '@playwright/test'
import { accessible, fitsWidth, screenshots, setup, signIn, tabTo } from './helpers.js'
const KENT = 'GB/LA/E10000016'
const DEVON = 'GB/LA/E10000008'

const SERVICE = `${KENT}/revenues/council-tax`
const common = ['/ui/', '/ui/members', '/ui/members?class=LA&q=county', `/ui/members/${KENT}`,
  `/ui/members/${KENT}/grants`, '/ui/services', `/ui/services/${SERVICE}`,
  '/ui/gateways', '/ui/sla', `/ui/sla?provider=${KENT}&period=1d`,
  `/ui/services/${SERVICE}/sla?period=1d`, `/ui/services/${SERVICE}/sla?period=90d`,
  '/ui/accessibility', '/ui/catalogue', '/ui/catalogue?q=council&lifecycle=live&sort=availability',
  '/ui/catalogue?drill=%2Flgsl', '/ui/partners', '/ui/partners?process=lgsl:58',
  `/ui/partners?member=${KENT}`, '/ui/access']
const pages = {
  operator: [...common, `/ui/members/${DEVON}/grants`, '/ui/people', '/ui/events',
    '/ui/events?action=person.&target=kent'],
  'member-admin': [...common, '/ui/people', `/ui/services/${SERVICE}/edit`],
  'member-viewer': common,
  assessor: [...common, `/ui/members/${DEVON}/grants`, '/ui/events']
}

function slug (path) {
  return path.replace(/[^a-zA-Z0-9]+/g, '-').replace(/^-|-$/g, '') || 'overview'
}

test('signed-out pages', async ({ page }) => {
  for (const path of ['/ui/sign-in', '/ui/accessibility', '/ui/no-such-page']) {
    await page.goto(`${setup.url}${path}`)
    await accessible(page, `signed-out-${slug(path)}`)
  }
  await page.goto(`${setup.url}/ui/sign-in`)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page.locator('.govuk-error-summary')).toBeVisible()
  await accessible(page, 'signed-out-sign-in-error')
})

for (const [role, person] of Object.entries(setup.people)) {
  test(`${role}: every page`, async ({ page }) => {
    await signIn(page, person)
    for (const path of pages[role]) {
      const response = await page.goto(`${setup.url}${path}`)
      expect(response.status(), path).toBe(200)
      await accessible(page, `${role}-${slug(path)}`)
    }
    await page.setViewportSize({ width: 320, height: 720 })
    for (const path of pages[role]) {
      await page.goto(`${setup.url}${path}`)
      await fitsWidth(page, `${path} at 320 px`)
      await page.screenshot({ path: `${screenshots}/${role}-${slug(path)}-320.png`, fullPage: true })
    }
  })
}

async function signInByKeyboard (page, person) {
  await page.goto(`${setup.url}/ui/sign-in`)
  await tabTo(page, () => document.activeElement.id === 'username')
  await page.keyboard.type(person.username)
  await page.keyboard.press('Tab')
  await page.keyboard.type(person.password)
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(`${setup.url}/ui/`)
}

test('keyboard only: sign in, open a member', async ({ page }) => {
  await signInByKeyboard(page, setup.people['member-viewer'])
  await tabTo(page, () => document.activeElement.textContent.trim() === 'Members')
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(`${setup.url}/ui/members`)
  await tabTo(page, () => document.activeElement.textContent.trim() === 'Kent County Council')
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(`${setup.url}/ui/members/${KENT}`)
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Kent County Council')
})

test('keyboard only: sign in, open an SLA report, read its charts as a table', async ({ page }) => {
  await signInByKeyboard(page, setup.people['member-admin'])
  await tabTo(page, () => document.activeElement.textContent.trim() === 'SLA reports')
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(`${setup.url}/ui/sla`)
  await tabTo(page, () => document.activeElement.textContent.trim() === 'GB/LA/E10000016')
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(`${setup.url}/ui/sla?provider=${KENT}&period=30d`)
  await tabTo(page, () => document.activeElement.textContent.trim() === 'GB/LA/E10000016/revenues/council-tax')
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(`${setup.url}/ui/services/${SERVICE}/sla?period=30d`)
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('SLA report: Council tax account lookup')
  // The charts are images with names; their data is a table behind a details summary.
  await expect(page.getByRole('img', { name: 'Availability, last 30 days' })).toBeVisible()
  await expect(page.getByRole('img', { name: 'Latency (p95), last 30 days' })).toBeVisible()
  const table = page.getByRole('table', { name: 'Each step of the period' })
  await expect(table).toBeHidden()
  await tabTo(page, () => document.activeElement.textContent.trim() === "The charts' data as a table")
  await page.keyboard.press('Enter')
  await expect(table).toBeVisible()
  // Kent's member-admin sees who consumes Kent's service.
  await expect(page.getByRole('heading', { name: 'By consumer' })).toBeVisible()
})

test('catalogue: search, tick facets, open a listing', async ({ page }) => {
  await signIn(page, setup.people['member-viewer'])
  await page.goto(`${setup.url}/ui/catalogue`)
  await page.getByLabel('Search the catalogue').fill('council tax')
  await page.getByRole('button', { name: 'Apply filters' }).click()
  await expect(page.getByRole('status')).toContainText('2 services found')
  // Ticking a facet value narrows the list; its count said by how much.
  await page.locator('summary', { hasText: 'Lifecycle' }).click()
  await page.getByRole('group', { name: 'Lifecycle' }).getByLabel('beta (1)').check()
  await page.getByRole('button', { name: 'Apply filters' }).click()
  await expect(page.getByRole('status')).toContainText('1 service found')
  await expect(page.locator('mark.psn-match').first()).toHaveText(/council/i)
  await accessible(page, 'catalogue-search-with-facets')
  // The selected filter is shown and can be removed.
  await page.getByRole('link', { name: /Remove filter Lifecycle: beta/ }).click()
  await expect(page.getByRole('status')).toContainText('2 services found')
  await page.getByRole('link', { name: 'Council tax account lookup' }).click()
  await expect(page).toHaveURL(`${setup.url}/ui/services/${SERVICE}`)
  await expect(page.getByRole('heading', { name: 'Measured over the last 30 days' })).toBeVisible()
  await accessible(page, 'catalogue-listing-detail')
})

test('access: a member-admin asks for access from a listing, the provider approves it', async ({ page, browser }) => {
  await signIn(page, setup.requester)
  await page.goto(`${setup.url}/ui/services/${KENT}/revenues/payroll`)
  await page.getByRole('button', { name: /Request access/ }).click()
  await accessible(page, 'access-request-form')
  await page.getByLabel('Purpose').fill('Payslips for staff seconded to Devon, to assess benefit claims.')
  await page.getByLabel('Methods (optional)').fill('GET')
  await page.getByRole('button', { name: 'Send request' }).click()
  await expect(page).toHaveURL(/\/ui\/access/)
  await expect(page.getByText('pending').first()).toBeVisible()
  await accessible(page, 'access-inbox-requester')

  // The provider signs in in a browser context of its own (its own cookies).
  const context = await browser.newContext({ ignoreHTTPSErrors: true })
  const provider = await context.newPage()
  await signIn(provider, setup.people['member-admin'])
  await provider.goto(`${setup.url}/ui/access`)
  await accessible(provider, 'access-inbox-provider')
  await provider.getByRole('button', { name: /^Approve request ar-/ }).first().click()
  await expect(provider.getByText('approved').first()).toBeVisible()
  await accessible(provider, 'access-inbox-approved')

  await context.close()

  await page.reload()
  await expect(page.getByText('approved').first()).toBeVisible()
})

test('listing: the provider edits its listing, a refusal shows the error summary', async ({ page }) => {
  await signIn(page, setup.people['member-admin'])
  await page.goto(`${setup.url}/ui/services/${SERVICE}`)
  await page.getByRole('link', { name: /Edit the listing/ }).click()
  await page.getByLabel('Processes').fill('lgsl:58 lgsl:999999')
  await page.getByRole('button', { name: 'Save the listing' }).click()
  await expect(page.locator('.govuk-error-summary')).toContainText('unknown process')
  await accessible(page, 'listing-edit-error')
  await page.getByLabel('Processes').fill('lgsl:58')
  await page.getByLabel('Areas served (optional)').fill('Kent\nMedway')
  await page.getByRole('button', { name: 'Save the listing' }).click()
  await expect(page).toHaveURL(`${setup.url}/ui/services/${SERVICE}`)
  await expect(page.getByText('Kent, Medway')).toBeVisible()
})

// Benchmarks over every real council with the demo's synthetic returns (.ci/ui-tests.sh loads
// them): the report for Kent's accounts payable, its charts' text alternatives and downloads,
// and the returns form refusing a CSV.
test.describe('benchmarks', () => {
  const REPORT = `/ui/benchmarks/report?process=psn%3A4004&member=${KENT}`
  const benchmarkPages = {
    'member-admin': ['/ui/benchmarks', REPORT, '/ui/benchmarks/peers', '/ui/benchmarks/returns',
      '/ui/benchmarks/groups'],
    operator: ['/ui/benchmarks', REPORT, `/ui/benchmarks/peers?member=${KENT}`,
      `/ui/benchmarks/returns?member=${KENT}`, `/ui/benchmarks/groups?member=${KENT}`]
  }

  for (const [role, paths] of Object.entries(benchmarkPages)) {
    test(`${role}: every benchmark page`, async ({ page }) => {
      await signIn(page, setup.people[role])
      for (const path of paths) {
        const response = await page.goto(`${setup.url}${path}`)
        expect(response.status(), path).toBe(200)
        await accessible(page, `${role}-${slug(path)}`)
      }
      await page.setViewportSize({ width: 320, height: 720 })
      for (const path of paths) {
        await page.goto(`${setup.url}${path}`)
        await fitsWidth(page, `${path} at 320 px`)
      }
    })
  }

  test('benchmark report for a demo council', async ({ page }) => {
    await signIn(page, setup.people['member-admin'])
    await page.goto(`${setup.url}/ui/benchmarks`)
    await page.getByLabel('Process').selectOption('psn:4004')
    await page.getByRole('button', { name: 'Open the report' }).click()
    await expect(page).toHaveURL(/\/ui\/benchmarks\/report\?process=psn%3A4004/)
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(/^Accounts payable: Kent County Council$/)
    // The headline, and the band in words as well as colour.
    await expect(page.locator('.govuk-summary-list__key', { hasText: /^Cost per / })).toBeVisible()
    await expect(page.locator('.govuk-summary-list .govuk-tag')).toHaveText(/quartile/)
    await expect(page.locator('.govuk-warning-text')).toContainText('Synthetic figures')
    // The charts are images whose text alternative says what they show.
    const distribution = page.getByRole('img', { name: /across the network/ })
    await expect(distribution).toBeVisible()
    await expect(page.locator('#distribution-desc')).toContainText('Kent County Council, marked with a diamond')
    await expect(page.getByRole('img', { name: /against measured availability/ })).toBeVisible()
    // A saving at the peers' median, with its formula.
    const savings = page.getByRole('table', { name: /Projected savings/ })
    await expect(savings.getByRole('row', { name: /peers' median/ })).toContainText('£')
    await accessible(page, 'benchmark-report-kent')
    // The downloads are reached with the keyboard.
    await page.getByRole('heading', { name: 'Download' }).click()
    // Through a page with many links: up to 400 presses.
    await tabTo(page, () => document.activeElement.textContent.trim() === 'This report as CSV', 400)
    const csv = page.waitForEvent('download')
    await page.keyboard.press('Enter')
    expect((await csv).suggestedFilename()).toMatch(/^benchmark-psn-4004-\d{4}-\d{2}\.csv$/)
    await page.keyboard.press('Tab')
    expect(await page.evaluate(() => document.activeElement.textContent.trim())).toBe('This report as JSON')
    await page.setViewportSize({ width: 320, height: 720 })
    await fitsWidth(page, 'benchmark report at 320 px')
  })

  test('benchmark returns: a refused CSV shows the error summary and stores nothing', async ({ page }) => {
    await signIn(page, setup.people['member-admin'])
    await page.goto(`${setup.url}/ui/benchmarks/returns`)
    await page.getByLabel('Returns as CSV').fill(
      'process,year,cost,volume,unit\npsn:4004,2024-25,-5,100,furlongs\n')
    await page.getByRole('button', { name: 'Check only' }).click()
    const summary = page.locator('.govuk-error-summary')
    await expect(summary).toBeVisible()
    await expect(summary).toContainText('Line 2')
    await expect(page.getByRole('table', { name: /What happened to each row/ })).toBeVisible()
    await accessible(page, 'benchmark-returns-refused')
    // The summary's link takes the keyboard to the row.
    await summary.getByRole('link').first().click()
    await expect(page).toHaveURL(/#line-2$/)
  })
})
