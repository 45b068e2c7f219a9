// Enhancement only: every page works without it. Marks the body as govuk-frontend expects (the
// official template does this inline, which psn's Content-Security-Policy forbids) and starts
// the components.
import { initAll } from './govuk-frontend.min.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()
