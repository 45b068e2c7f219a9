//! Turning the ALL-CAPS names of the NHS ODS extract into the names people actually use.

/// Words kept in capitals.
const ACRONYMS: &[&str] = &[
    "NHS", "UK", "GP", "GPS", "CCG", "ICB", "ICS", "HM", "HMP", "IT", "NHSX", "AIDS", "HIV", "A&E",
    "BBC", "II", "III", "IV",
];

/// Words kept in lower case unless they start the name.
const SMALL_WORDS: &[&str] = &[
    "and", "of", "for", "the", "in", "on", "upon", "at", "by", "to", "with", "a", "an",
];

/// Converts an ALL-CAPS name to title case: `GUY'S AND ST THOMAS' NHS FOUNDATION TRUST` becomes
/// `Guy's and St Thomas' NHS Foundation Trust`. Names that already contain lower-case letters
/// are returned unchanged (someone has cased them by hand, which beats any rule). Whitespace
/// must already be normalised to single spaces.
pub(crate) fn title_case(name: &str) -> String {
    if name.chars().any(char::is_lowercase) {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len());
    for (i, word) in name.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // Hyphenated parts are cased separately: STOKE-ON-TRENT -> Stoke-on-Trent.
        for (j, part) in word.split('-').enumerate() {
            if j > 0 {
                out.push('-');
            }
            case_part(part, i == 0 && j == 0, &mut out);
        }
    }
    out
}

/// Cases one word, keeping surrounding punctuation such as `(UK)` or `LYNN,` in place.
fn case_part(part: &str, first: bool, out: &mut String) {
    let core_start = part
        .char_indices()
        .find(|(_, c)| c.is_alphanumeric())
        .map_or(part.len(), |(i, _)| i);
    let core_end = part
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_alphanumeric())
        .map_or(core_start, |(i, c)| i + c.len_utf8());
    let (lead, rest) = part.split_at(core_start);
    let (core, trail) = rest.split_at(core_end.saturating_sub(core_start));
    out.push_str(lead);
    let lower = core.to_lowercase();
    if ACRONYMS.contains(&core) {
        out.push_str(core);
    } else if !first && SMALL_WORDS.contains(&lower.as_str()) {
        out.push_str(&lower);
    } else {
        let mut chars = lower.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out.push_str(trail);
}

#[cfg(test)]
mod tests {
    use super::title_case;

    #[test]
    fn real_names() {
        for (caps, want) in [
            (
                "NORTH LONDON NHS FOUNDATION TRUST",
                "North London NHS Foundation Trust",
            ),
            (
                "GUY'S AND ST THOMAS' NHS FOUNDATION TRUST",
                "Guy's and St Thomas' NHS Foundation Trust",
            ),
            (
                "THE QUEEN ELIZABETH HOSPITAL, KING'S LYNN, NHS FOUNDATION TRUST",
                "The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust",
            ),
            (
                "ROYAL BROMPTON & HAREFIELD NHS FOUNDATION TRUST",
                "Royal Brompton & Harefield NHS Foundation Trust",
            ),
            (
                "NORTHUMBERLAND, TYNE AND WEAR NHS FOUNDATION TRUST",
                "Northumberland, Tyne and Wear NHS Foundation Trust",
            ),
            (
                "THE NEWCASTLE UPON TYNE HOSPITALS NHS FOUNDATION TRUST",
                "The Newcastle upon Tyne Hospitals NHS Foundation Trust",
            ),
            (
                "ROYAL NATIONAL ORTHOPAEDIC HOSPITAL NHS TRUST",
                "Royal National Orthopaedic Hospital NHS Trust",
            ),
        ] {
            assert_eq!(title_case(caps), want);
        }
    }

    #[test]
    fn punctuation_hyphens_and_digits() {
        assert_eq!(
            title_case("HEALTH RESEARCH (UK) TRUST"),
            "Health Research (UK) Trust"
        );
        assert_eq!(title_case("STOKE-ON-TRENT PCT"), "Stoke-on-Trent Pct");
        assert_eq!(title_case("2GETHER NHS TRUST"), "2gether NHS Trust");
        assert_eq!(title_case("AND THE OTHERS"), "And the Others");
    }

    #[test]
    fn odd_input_does_not_panic() {
        for s in [
            "",
            "-",
            "'",
            "((",
            "É",
            "ÆØÅ-ß",
            "\u{130}STANBUL",
            "-- --",
            "'A'",
        ] {
            let _ = title_case(s);
        }
        assert_eq!(title_case("Already Cased"), "Already Cased");
    }
}
