//! Numbers and units written for people: thousands separators, pounds, plural units. Shared by
//! the peer shares, the savings formulas and validation messages so they read the same.

/// A whole number with thousands separators: `1,589,057`; negative with `−`.
pub(crate) fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "unknown".to_owned();
    }
    let rounded = value.round();
    let digits = format!("{:.0}", rounded.abs());
    let grouped = group(&digits);
    if rounded < 0.0 {
        format!("−{grouped}")
    } else {
        grouped
    }
}

/// Inserts a comma every three digits from the right (`digits` is ASCII digits).
fn group(digits: &str) -> String {
    digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(",")
}

/// A number for a person: whole with separators from 100 up, else up to two decimals.
pub(crate) fn number(value: f64) -> String {
    if !value.is_finite() {
        "unknown".to_owned()
    } else if value.abs() >= 100.0 {
        thousands(value)
    } else {
        let text = format!("{value:.2}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.replace('-', "−")
    }
}

/// Pounds and pence with separators: `£3.40`, `£1,234.50`, `−£12.00`. Amounts under 10p keep
/// four decimals so a cost per unit of a fraction of a penny still reads.
pub fn pounds(value: f64) -> String {
    if !value.is_finite() {
        return "unknown".to_owned();
    }
    let decimals = if value != 0.0 && value.abs() < 0.10 {
        4
    } else {
        2
    };
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let sign = if value < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        "−"
    } else {
        ""
    };
    format!("{sign}£{}.{fraction}", group(whole))
}

/// Whole pounds with separators: `£156,000`, `−£12,000`.
pub fn whole_pounds(value: f64) -> String {
    if !value.is_finite() {
        return "unknown".to_owned();
    }
    let text = thousands(value);
    match text.strip_prefix('−') {
        Some(rest) => format!("−£{rest}"),
        None => format!("£{text}"),
    }
}

/// A unit counted `count` times: `1 invoice paid`, `120,000 invoices paid`. The noun of a unit
/// such as `invoice paid` comes before its participle, so that word takes the plural.
pub(crate) fn counted(count: u64, unit: &str) -> String {
    let count_text = thousands(count as f64);
    if count == 1 {
        return format!("{count_text} {unit}");
    }
    format!("{count_text} {}", plural(unit))
}

/// The plural of a unit: `invoices paid`, `council-tax accounts`, `eligibility checks`.
pub(crate) fn plural(unit: &str) -> String {
    let words: Vec<&str> = unit.split(' ').collect();
    let participle = |w: &str| w.ends_with("ed") || w == "paid";
    let noun = if words.len() >= 2 && words.last().is_some_and(|w| participle(w)) {
        words.len() - 2
    } else {
        words.len().saturating_sub(1)
    };
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == noun {
                plural_word(w)
            } else {
                (*w).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn plural_word(word: &str) -> String {
    if word.is_empty() {
        return String::new();
    }
    if ["s", "x", "ch", "sh"].iter().any(|end| word.ends_with(end)) {
        format!("{word}es")
    } else if let Some(stem) = word.strip_suffix('y') {
        if stem.ends_with(['a', 'e', 'i', 'o', 'u']) {
            format!("{word}s")
        } else {
            format!("{stem}ies")
        }
    } else {
        format!("{word}s")
    }
}

/// The first `max` characters of untrusted text, for a message.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(thousands(1_589_057.0), "1,589,057");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-12_000.4), "−12,000");
        assert_eq!(number(3544.0), "3,544");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(3.0), "3");
        assert_eq!(pounds(3.4), "£3.40");
        assert_eq!(pounds(1234.5), "£1,234.50");
        assert_eq!(pounds(-12.0), "−£12.00");
        assert_eq!(pounds(0.0123), "£0.0123");
        assert_eq!(whole_pounds(156_000.2), "£156,000");
        assert_eq!(whole_pounds(-1_500.0), "−£1,500");
    }

    #[test]
    fn plural_units() {
        assert_eq!(plural("invoice paid"), "invoices paid");
        assert_eq!(plural("council-tax account"), "council-tax accounts");
        assert_eq!(plural("eligibility check"), "eligibility checks");
        assert_eq!(plural("application assessed"), "applications assessed");
        assert_eq!(plural("scheme member"), "scheme members");
        assert_eq!(plural("inquiry"), "inquiries");
        assert_eq!(counted(1, "invoice paid"), "1 invoice paid");
        assert_eq!(counted(120_000, "invoice paid"), "120,000 invoices paid");
    }
}
