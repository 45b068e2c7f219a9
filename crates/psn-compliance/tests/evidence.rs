//! Uploaded evidence files: what is stored, and every way a hostile or mistaken upload is
//! refused.

use psn_compliance::{
    check_evidence, sha256_hex, EvidenceRefusal, ACCEPTED_TYPES, MAX_EVIDENCE_BYTES,
    MAX_EVIDENCE_QUOTA,
};

const PDF: &[u8] = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<<>>\nendobj\n%%EOF\n";
const PNG: &[u8] = b"\x89PNG\r\n\x1A\n\0\0\0\rIHDR";
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0";
const ZIP: &[u8] = b"PK\x03\x04\x14\0\0\0\x08\0";

fn bad_name(name: &str) -> String {
    match check_evidence(name, None, PDF) {
        Err(EvidenceRefusal::BadName(why)) => why,
        other => panic!("{name:?}: expected a bad name, got {other:?}"),
    }
}

fn unsupported(name: &str, bytes: &[u8]) -> String {
    match check_evidence(name, None, bytes) {
        Err(e @ EvidenceRefusal::UnsupportedType(_)) => e.to_string(),
        other => panic!("{name:?}: expected an unsupported type, got {other:?}"),
    }
}

#[test]
fn accepted_files_get_their_type_from_the_content() {
    assert_eq!(
        check_evidence("Firewall report.pdf", None, PDF),
        Ok("application/pdf")
    );
    assert_eq!(
        check_evidence("REPORT.PDF", Some("application/pdf"), PDF),
        Ok("application/pdf")
    );
    assert_eq!(
        check_evidence("screen.png", Some("image/png"), PNG),
        Ok("image/png")
    );
    assert_eq!(
        check_evidence("photo.jpg", Some("image/jpeg"), JPEG),
        Ok("image/jpeg")
    );
    assert_eq!(
        check_evidence("photo.JPEG", Some("image/jpg"), JPEG),
        Ok("image/jpeg")
    );
    assert_eq!(
        check_evidence(
            "patches.csv",
            Some("text/csv; charset=utf-8"),
            b"host,patched\r\nfw1,2026-11-30\r\n"
        ),
        Ok("text/csv")
    );
    // Windows with Excel installed sends CSV files as application/vnd.ms-excel.
    assert_eq!(
        check_evidence("patches.csv", Some("application/vnd.ms-excel"), b"a,b\n"),
        Ok("text/csv")
    );
    assert_eq!(
        check_evidence(
            "notes.txt",
            Some("Text/Plain;charset=UTF-8"),
            "Café ✓\tok\n".as_bytes()
        ),
        Ok("text/plain")
    );
    assert_eq!(
        check_evidence("firewall.log", Some("text/csv"), b"DENY tcp 10.0.0.1\n"),
        Ok("text/plain")
    );
    assert_eq!(
        check_evidence("a.txt", Some("application/octet-stream"), b"x"),
        Ok("text/plain")
    );
    assert_eq!(check_evidence("a.txt", Some(""), b"x"), Ok("text/plain"));
    assert_eq!(
        check_evidence(&format!("{}.pdf", "é".repeat(116)), None, PDF),
        Ok("application/pdf")
    );
    for t in ACCEPTED_TYPES {
        assert!(t.is_ascii());
    }
    assert_eq!(MAX_EVIDENCE_QUOTA, 200 * 1024 * 1024);
}

#[test]
fn empty_and_oversized_files_are_refused() {
    assert_eq!(
        check_evidence("a.txt", None, b""),
        Err(EvidenceRefusal::Empty)
    );
    assert_eq!(EvidenceRefusal::Empty.to_string(), "The file is empty.");
    let limit = usize::try_from(MAX_EVIDENCE_BYTES).expect("fits");
    let mut big = vec![b'a'; limit];
    assert_eq!(check_evidence("big.txt", None, &big), Ok("text/plain"));
    big.push(b'a');
    let refused = check_evidence("big.txt", None, &big).expect_err("too large");
    assert_eq!(
        refused,
        EvidenceRefusal::TooLarge {
            bytes: MAX_EVIDENCE_BYTES + 1,
            limit: 10 * 1024 * 1024
        }
    );
    assert!(refused.to_string().contains("10485761 bytes"));
}

#[test]
fn path_like_and_deceptive_names_are_refused() {
    assert!(bad_name("../../etc/passwd").contains("folder separator"));
    assert!(bad_name("../../report.pdf").contains("folder separator"));
    assert!(bad_name("C:\\x.pdf").contains("folder separator"));
    assert!(bad_name("..\\..\\x.pdf").contains("folder separator"));
    assert!(bad_name("C:x.pdf").contains("':'"));
    assert!(bad_name("report.pdf:Zone.Identifier").contains("':'"));
    assert!(bad_name(".htaccess").contains("must not start with '.'"));
    assert!(bad_name(".pdf").contains("must not start with '.'"));
    assert!(bad_name(".").contains("must not start with '.'"));
    assert!(bad_name("..").contains("must not start with '.'"));
    assert!(bad_name("a.pdf\u{202e}fdp.exe").contains("reverses"));
    assert!(bad_name("report\u{2066}.pdf").contains("U+2066"));
    assert!(bad_name("report\0.pdf").contains("U+0000"));
    assert!(bad_name("report\n.pdf").contains("U+000A"));
    assert!(bad_name("\u{85}report.pdf").contains("U+0085"));
    assert!(bad_name("").contains("needs a name"));
    assert!(bad_name(&format!("{}.pdf", "a".repeat(117))).contains("121 characters"));
    assert!(bad_name("report\".pdf").contains("must not contain"));
    assert!(bad_name(" report.pdf").contains("space"));
    // The name must carry the extension of the content's type.
    assert!(bad_name("report").contains("must end in .pdf"));
    assert!(bad_name("report.pdf.exe").contains("must end in .pdf"));
    assert!(bad_name("report.png").contains("holds application/pdf"));
    assert!(
        matches!(check_evidence("photo.png", None, JPEG), Err(EvidenceRefusal::BadName(w)) if w.contains(".jpg or .jpeg"))
    );
    assert!(
        matches!(check_evidence("page.html", None, b"<html>"), Err(EvidenceRefusal::BadName(w)) if w.contains(".txt or .log"))
    );
    // Echoed names are clipped.
    let long = format!("{}/x.pdf", "a".repeat(100));
    let why = bad_name(&long);
    assert!(why.chars().count() < 120, "{why}");
    let e = EvidenceRefusal::BadName(bad_name(".htaccess"));
    assert!(e.to_string().starts_with("The file name is not accepted: "));
}

#[test]
fn archives_office_documents_and_binaries_are_refused_by_content() {
    let zip = unsupported("report.pdf", ZIP);
    assert!(zip.contains("ZIP archive"), "{zip}");
    assert!(
        zip.contains("archives and office documents are not accepted"),
        "{zip}"
    );
    assert!(zip.contains("export the document to PDF"), "{zip}");
    for (name, bytes) in [
        ("report.docx", ZIP),
        ("empty.zip", &b"PK\x05\x06\0\0"[..]),
        ("logs.txt", &b"\x1F\x8B\x08\0"[..]),
        ("a.pdf", &b"7z\xBC\xAF\x27\x1C\0\x04"[..]),
        ("a.pdf", &b"Rar!\x1A\x07\x01\0"[..]),
        ("old.doc", &b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"[..]),
        ("a.txt", &b"BZh91AY&SY\x01"[..]),
        ("a.txt", &b"\xFD7zXZ\0\0"[..]),
        ("a.txt", &b"\x28\xB5\x2F\xFD\x04"[..]),
    ] {
        let why = unsupported(name, bytes);
        assert!(
            why.contains("archives and office documents are not accepted"),
            "{name}: {why}"
        );
    }
    // Text that merely starts with BZh is text.
    assert_eq!(
        check_evidence("a.txt", None, b"BZh is not bzip2"),
        Ok("text/plain")
    );
    // Other binaries, and text with control characters, are refused too.
    let elf = unsupported("tool.txt", b"\x7FELF\x02\x01\x01\0");
    assert!(elf.contains("accepted are PDF, PNG, JPEG"), "{elf}");
    assert!(unsupported("a.txt", b"\xC3\x28 broken utf-8").contains("not UTF-8 text"));
    assert!(unsupported("a.txt", b"nul\0inside").contains("U+0000"));
    assert!(unsupported("a.txt", b"\x1B[2Jclear").contains("U+001B"));
    // A name cannot make a binary a PDF.
    assert!(unsupported("a.pdf", b"MZ\x90\0\x03\0\0\0").contains("not a PDF"));
}

#[test]
fn a_declared_type_must_agree_with_the_content() {
    assert_eq!(
        check_evidence("report.pdf", Some("image/png"), PDF),
        Err(EvidenceRefusal::TypeMismatch {
            declared: "image/png".to_owned(),
            found: "application/pdf"
        })
    );
    let e = check_evidence("notes.txt", Some("application/pdf"), b"plain").expect_err("mismatch");
    assert_eq!(
        e.to_string(),
        "The file was sent as \"application/pdf\" but its content is text/plain."
    );
    let e = check_evidence("a.png", Some(&format!("image/{}", "x".repeat(200))), PNG)
        .expect_err("mismatch");
    match e {
        EvidenceRefusal::TypeMismatch { declared, .. } => assert!(declared.chars().count() <= 61),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sha256_is_lowercase_hex() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}
