//! The embedded Local Government Service List.

use std::collections::HashSet;

use psn_orgdata::lgsl_processes;

#[test]
fn all_processes_load_with_unique_ids() {
    let all = lgsl_processes().unwrap();
    assert_eq!(all.len(), 1519);
    let ids: HashSet<u32> = all.iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), all.len());
    assert!(all.iter().all(|p| !p.label.is_empty()));
    assert_eq!(all.iter().filter(|p| p.description.is_empty()).count(), 14);
}

#[test]
fn known_processes() {
    let all = lgsl_processes().unwrap();
    let label = |id: u32| {
        all.iter()
            .find(|p| p.id == id)
            .map(|p| p.label.as_str())
            .unwrap_or_default()
    };
    assert_eq!(label(4), "Free school meals");
    assert_eq!(label(57), "Council tax annual notification");
    assert_eq!(label(979), "Staff - payroll");
    assert_eq!(label(1629), "Corporate - procurement");
    let bursary = all.iter().find(|p| p.id == 1614).unwrap();
    assert_eq!(bursary.label, "16 to 19 bursary fund");
    assert!(bursary
        .description
        .starts_with("Those aged between 16 and 19"));
    assert_eq!(bursary.description.trim(), bursary.description);
}
