// What every spec shares: the setup .ci/ui-tests.sh writes, axe-core's WCAG 2.2 A and AA rules
// with a screenshot of the page checked, the 320 px reflow check (naming what sticks out),
// signing in through the form, and reaching an element with the Tab key alone.
import { expect } from '@playwright/test'
import AxeBuilder from '@axe-core/playwright'
import fs from 'node:fs'

export const setup = JSON.parse(fs.readFileSync(process.env.PSN_UI_SETUP, 'utf8'))
export const screenshots = process.env.PSN_UI_SCREENSHOTS
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa']

// axe-core reports nothing on the page; it is kept as screenshots/{name}.png.
export async function accessible (page, name) {
  const results = await new AxeBuilder({ page }).withTags(TAGS).analyze()
  const found = results.violations.map((v) =>
    `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)
  expect(found, name).toEqual([])
  await page.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true })
}

// Nothing scrolls sideways at the page's current width; on failure, the innermost elements that
// stick out are named, to say what to fix.
export async function fitsWidth (page, name) {
  const overflow = await page.evaluate(() =>
    document.documentElement.scrollWidth - document.documentElement.clientWidth)
  const culprits = overflow <= 0
    ? []
    : await page.evaluate(() => [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth &&
        ![...e.children].some((c) => c.getBoundingClientRect().right > document.documentElement.clientWidth))
      .map((e) => `${e.tagName.toLowerCase()}.${e.className}: ${e.textContent.trim().slice(0, 40)}`))
  expect(overflow, `${name} scrolls sideways: ${culprits.join('; ')}`).toBeLessThanOrEqual(0)
}

// The page at 320 px fits its width and is kept as screenshots/{name}-320.png; the viewport
// goes back to 1280 px.
export async function reflows (page, name) {
  await page.setViewportSize({ width: 320, height: 720 })
  await fitsWidth(page, name)
  await page.screenshot({ path: `${screenshots}/${name}-320.png`, fullPage: true })
  await page.setViewportSize({ width: 1280, height: 720 })
}

export async function signIn (page, person) {
  await page.goto(`${setup.url}/ui/sign-in`)
  await page.getByLabel('Username or email address').fill(person.username)
  await page.getByLabel('Password').fill(person.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page).toHaveURL(`${setup.url}/ui/`)
}

// Presses Tab until `matches` (run in the page) holds, at most `presses` times.
export async function tabTo (page, matches, presses = 60) {
  for (let i = 0; i < presses; i++) {
    await page.keyboard.press('Tab')
    if (await page.evaluate(matches)) return
  }
  throw new Error(`no focusable element matched ${matches}`)
}
