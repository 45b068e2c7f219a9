// Debian's Chromium, not a Playwright download (none is possible on these machines); the
// authority's certificate comes from the test network's own CA, hence ignoreHTTPSErrors.
import { defineConfig } from '@playwright/test'

export default defineConfig({
  testDir: './tests',
  outputDir: process.env.PSN_UI_RESULTS || '../target/ui-tests/results',
  reporter: [['list']],
  workers: 1,
  timeout: 120_000,
  use: {
    browserName: 'chromium',
    ignoreHTTPSErrors: true,
    launchOptions: {
      executablePath: process.env.PSN_CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox']
    }
  }
})
