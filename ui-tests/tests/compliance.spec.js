// The compliance pages in Debian's Chromium: Kent's member-admin answers a control through the
// form (the rest were saved through the API by .ci/ui-tests.sh), uploads an evidence file,
// attaches it and submits; Kent's own assessor is told it may not review Kent; a network
// assessor certifies; the public status list shows the certificate. axe-core's WCAG 2.2 A and
// AA rules report nothing on any compliance page, and at 320 px nothing scrolls sideways.
import { test, expect } from '@playwright/test'
import * as shared from './helpers.js'
import { setup, signIn } from './helpers.js'

const accessible = (page, name) => shared.accessible(page, `compliance-${name}`)
const reflows = (page, name) => shared.reflows(page, `compliance-${name}`)

async function signOut (page) {
  await page.getByRole('button', { name: /Sign out/ }).click()
}

test.describe.configure({ mode: 'serial' })

test('compliance: answer, upload, submit, review, certify', async ({ page }) => {
  // Kent's member-admin: the task list, an upload, one control through the form.
  await signIn(page, setup.people['member-admin'])
  await page.getByRole('link', { name: 'Compliance' }).first().click()
  await expect(page).toHaveURL(`${setup.url}/ui/compliance`)
  await expect(page.locator('.govuk-task-list').first()).toBeVisible()
  await accessible(page, 'tasks')
  await reflows(page, 'tasks')

  await page.goto(`${setup.url}/ui/compliance/evidence`)
  await accessible(page, 'evidence')
  await page.getByRole('button', { name: 'Upload file' }).click()
  await expect(page.locator('.govuk-error-summary')).toContainText('Choose a file')
  await accessible(page, 'evidence-error')
  await page.getByLabel('Upload a file').setInputFiles(setup.evidence)
  await page.getByRole('button', { name: 'Upload file' }).click()
  await expect(page.locator('.govuk-notification-banner')).toContainText('firewall-rules-review.pdf was uploaded')
  await accessible(page, 'evidence-uploaded')
  await reflows(page, 'evidence')

  await page.goto(`${setup.url}/ui/compliance`)
  await page.locator('a[href="/ui/compliance/connection/coco-1"]').click()
  await accessible(page, 'control')
  // Saving without choosing shows the error summary, linked to the fields.
  await page.getByRole('button', { name: 'Save and return to the task list' }).click()
  await expect(page.locator('.govuk-error-summary')).toContainText('Select whether the control is met')
  await accessible(page, 'control-error')
  await page.getByLabel('Partly met', { exact: true }).check()
  await expect(page.getByLabel('Improvement plan (if partly met)')).toBeVisible()
  await accessible(page, 'control-partly')
  await page.getByLabel('Met', { exact: true }).check()
  await page.getByLabel('Self-asserted: we say so').check()
  await page.getByLabel('Note for the assessor (optional)').fill('Rules reviewed quarterly; the latest review is attached.')
  await page.getByLabel(/firewall-rules-review\.pdf/).check()
  await reflows(page, 'control')
  await page.getByRole('button', { name: 'Save and return to the task list' }).click()
  await expect(page).toHaveURL(`${setup.url}/ui/compliance`)
  await expect(page.locator('#connection-coco-1-status')).toHaveText('Completed')
  await page.getByRole('button', { name: /Submit for review.*Connection/ }).click()
  await expect(page.locator('#state-connection')).toContainText('waiting for an assessor')
  await accessible(page, 'tasks-submitted')
  await signOut(page)

  // Kent's own assessor: sees the submission, is told it may not review it, and is refused.
  await signIn(page, setup.kentAssessor)
  await page.goto(`${setup.url}/ui/compliance/review`)
  await accessible(page, 'review-list')
  await page.getByRole('link', { name: /^Review sub-/ }).first().click()
  await expect(page.locator('.govuk-warning-text')).toContainText('an assessor of another member must review')
  await accessible(page, 'review-own-member')
  for (const radio of await page.getByLabel('Accepted', { exact: true }).all()) await radio.check()
  await page.getByLabel('Certify: every control accepted').check()
  await page.getByRole('button', { name: 'Record the decision' }).click()
  await expect(page.locator('.govuk-error-summary')).toContainText('may not review its own member')
  await accessible(page, 'review-refused')
  await signOut(page)

  // A network assessor: reads the answers and evidence, certifies.
  await signIn(page, setup.people.assessor)
  await page.goto(`${setup.url}/ui/compliance/review`)
  await page.getByRole('link', { name: /^Review sub-/ }).first().click()
  await expect(page.getByRole('link', { name: /firewall-rules-review\.pdf/ })).toBeVisible()
  await accessible(page, 'review')
  await reflows(page, 'review')
  for (const radio of await page.getByLabel('Accepted', { exact: true }).all()) await radio.check()
  await page.getByLabel('Certify: every control accepted').check()
  await page.getByRole('button', { name: 'Record the decision' }).click()
  await expect(page).toHaveURL(`${setup.url}/ui/compliance/status`)
  const kent = page.getByRole('row', { name: /Kent County Council/ })
  await expect(kent).toContainText('connection')
  await expect(kent.locator('.govuk-tag--green')).toHaveText('Valid')
  await accessible(page, 'status')
  await reflows(page, 'status')
  await page.getByLabel('Member name or id').fill('devon')
  await page.getByRole('button', { name: 'Filter' }).click()
  await expect(page.getByText('No members match.')).toBeVisible()
  await accessible(page, 'status-filtered')
  await signOut(page)

  // The status list is public, like the accessibility statement.
  await page.goto(`${setup.url}/ui/compliance/status?expiring=30`)
  await accessible(page, 'status-signed-out')
  await page.goto(`${setup.url}/ui/compliance/status`)
  await expect(page.getByRole('row', { name: /Kent County Council/ })).toBeVisible()
})

test('compliance: a member-viewer reads, others are refused', async ({ page }) => {
  await signIn(page, setup.people['member-viewer'])
  await page.goto(`${setup.url}/ui/compliance`)
  await expect(page.getByRole('row', { name: /connection/ }).locator('.govuk-tag--green')).toHaveText('Valid')
  await accessible(page, 'viewer-tasks')
  await page.goto(`${setup.url}/ui/compliance/connection/coco-2`)
  await expect(page.getByRole('button', { name: 'Save and return to the task list' })).toHaveCount(0)
  await accessible(page, 'viewer-control')
  const response = await page.goto(`${setup.url}/ui/compliance/review`)
  expect(response.status()).toBe(403)
  await accessible(page, 'viewer-review-refused')
})
