//! Page numbers and the GOV.UK pagination component's items.

use super::views::{PageItem, Pagination};

/// Rows on one page of a list.
pub const PAGE_SIZE: u64 = 50;

/// The offset of 1-based `page`.
pub fn offset(page: u64) -> u64 {
    page.saturating_sub(1).saturating_mul(PAGE_SIZE)
}

/// Percent-encodes a query value: everything but RFC 3986 unreserved characters.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Pagination for `total` rows at `page`, linking to `path?{filters}page=N` (`filters` is
/// empty or ends in `&`); `None` when everything fits on one page.
pub fn pagination(path: &str, filters: &str, page: u64, total: u64) -> Option<Pagination> {
    let pages = total.div_ceil(PAGE_SIZE);
    if pages <= 1 {
        return None;
    }
    let href = |n: u64| format!("{path}?{filters}page={n}");
    let mut items = Vec::new();
    let mut last_shown = 0;
    for n in 1..=pages {
        if n == 1 || n == pages || n.abs_diff(page) <= 1 {
            if n > last_shown + 1 {
                items.push(PageItem {
                    number: 0,
                    href: String::new(),
                    current: false,
                    ellipsis: true,
                });
            }
            items.push(PageItem {
                number: n,
                href: href(n),
                current: n == page,
                ellipsis: false,
            });
            last_shown = n;
        }
    }
    Some(Pagination {
        previous: (page > 1).then(|| href(page - 1)),
        next: (page < pages).then(|| href(page + 1)),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_around_the_current_one_with_ellipses() {
        let p = pagination("/ui/members", "q=a&", 5, 10 * PAGE_SIZE).expect("paginated");
        let shown: Vec<String> = p
            .items
            .iter()
            .map(|i| {
                if i.ellipsis {
                    "…".to_owned()
                } else {
                    i.number.to_string()
                }
            })
            .collect();
        assert_eq!(shown, ["1", "…", "4", "5", "6", "…", "10"]);
        assert_eq!(p.previous.as_deref(), Some("/ui/members?q=a&page=4"));
        assert_eq!(p.next.as_deref(), Some("/ui/members?q=a&page=6"));
        assert!(p.items.iter().any(|i| i.current && i.number == 5));
        assert!(pagination("/ui/members", "", 1, PAGE_SIZE).is_none());
        let last = pagination("/ui/members", "", 2, PAGE_SIZE + 1).expect("two pages");
        assert!(last.next.is_none());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("a b&c=<d>"), "a%20b%26c%3D%3Cd%3E");
        assert_eq!(encode("Kent-1_x.~"), "Kent-1_x.~");
    }
}

/// The pagination template against govuk-frontend's own fixtures (tests/data, extracted by
/// assets/govuk-frontend/update.sh): given the same options, the same markup.
#[cfg(test)]
mod fixtures {
    use super::super::views::{PageItem, Pagination};
    use askama::Template;

    #[derive(Template)]
    #[template(source = "{% include \"pagination.html\" %}", ext = "html")]
    struct PaginationOnly {
        pagination: Option<Pagination>,
    }

    /// Whitespace between and around tags carries no meaning in these components.
    fn normalise(html: &str) -> String {
        html.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("> <", "><")
            .replace("> ", ">")
            .replace(" <", "<")
    }

    fn href(value: &serde_json::Value, key: &str) -> Option<String> {
        value[key]["href"].as_str().map(str::to_owned)
    }

    fn from_options(options: &serde_json::Value) -> Pagination {
        let items = options["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| PageItem {
                        number: i["number"].as_u64().unwrap_or(0),
                        href: i["href"].as_str().unwrap_or_default().to_owned(),
                        current: i["current"].as_bool().unwrap_or(false),
                        ellipsis: i["ellipsis"].as_bool().unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Pagination {
            previous: href(options, "previous"),
            next: href(options, "next"),
            items,
        }
    }

    #[test]
    fn pagination_markup_is_govuk_frontends() {
        let all: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/govuk-fixtures.json"))
                .expect("fixtures");
        let fixtures = all["pagination"].as_array().expect("pagination fixtures");
        assert_eq!(fixtures.len(), 3);
        for fixture in fixtures {
            let page = PaginationOnly {
                pagination: Some(from_options(&fixture["options"])),
            };
            let ours = page.render().expect("render");
            let theirs = fixture["html"].as_str().expect("html");
            assert_eq!(normalise(&ours), normalise(theirs), "{}", fixture["name"]);
        }
    }
}
