//! The names a gateway's configuration directory is read by, and enrolment tokens, on arbitrary
//! text: neither parser panics; a file name is taken only in the one form the gateway writes it,
//! and a token that decodes encodes to text that decodes to the same token.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psn_core::config::StoredForm;
use psn_core::token::EnrolmentToken;

fuzz_target!(|text: &str| {
    if let Some((version, form)) = StoredForm::of_file_name(text) {
        assert_eq!(form.file_name(version), text);
    }
    if let Ok(token) = EnrolmentToken::decode(text) {
        assert_eq!(EnrolmentToken::decode(&token.encode()).ok(), Some(token));
    }
});
