//! Factur-X / ZUGFeRD PDFs: finds the embedded invoice XML among the PDF's attached files
//! (the `/EmbeddedFiles` name tree and `/AF` file specifications) with lopdf.

use super::MAX_BYTES;
use crate::formats::diag::{Diagnostic, Severity};
use lopdf::{Document, Object};

/// Attachment names an invoice travels under, in order of preference.
const KNOWN: [&str; 4] = [
    "factur-x.xml",
    "zugferd-invoice.xml",
    "xrechnung.xml",
    "order-x.xml",
];

fn name_of(spec: &lopdf::Dictionary) -> Option<String> {
    for key in [b"UF".as_slice(), b"F".as_slice()] {
        if let Ok(Object::String(bytes, _)) = spec.get(key) {
            let s = if bytes.starts_with(&[0xFE, 0xFF]) {
                let u: Vec<u16> = bytes[2..]
                    .chunks(2)
                    .filter(|c| c.len() == 2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&u)
            } else {
                String::from_utf8_lossy(bytes).into_owned()
            };
            return Some(s);
        }
    }
    None
}

/// The embedded invoice: its attachment name, its bytes (BOM removed) and notes (other
/// attachments). An error when the PDF is unreadable or carries no XML attachment.
pub fn embedded_invoice(bytes: &[u8]) -> Result<(String, Vec<u8>, Vec<Diagnostic>), Diagnostic> {
    let doc = Document::load_mem(bytes).map_err(|e| {
        Diagnostic::new(
            Severity::Fatal,
            "PDF-SYNTAX",
            "",
            format!("the PDF cannot be read: {e}"),
        )
    })?;
    let mut found: Vec<(String, Vec<u8>)> = Vec::new();
    for obj in doc.objects.values() {
        let Ok(dict) = obj.as_dict() else { continue };
        let is_spec =
            matches!(dict.get(b"Type"), Ok(Object::Name(n)) if n == b"Filespec") || dict.has(b"EF");
        if !is_spec {
            continue;
        }
        let Some(name) = name_of(dict) else { continue };
        let ef = match dict.get(b"EF") {
            Ok(Object::Reference(r)) => doc.get_dictionary(*r).ok(),
            Ok(Object::Dictionary(d)) => Some(d),
            _ => None,
        };
        let Some(ef) = ef else {
            continue;
        };
        let Ok(stream_ref) = ef.get(b"F").or_else(|_| ef.get(b"UF")) else {
            continue;
        };
        let stream = match stream_ref {
            Object::Reference(r) => doc.get_object(*r).ok().and_then(|o| o.as_stream().ok()),
            Object::Stream(s) => Some(s),
            _ => None,
        };
        let Some(stream) = stream else { continue };
        if stream.content.len() > MAX_BYTES {
            return Err(Diagnostic::new(
                Severity::Fatal,
                "FILE-SIZE",
                &name,
                "attachment over the size limit",
            ));
        }
        let content = stream
            .decompressed_content()
            .unwrap_or_else(|_| stream.content.clone());
        if content.len() > MAX_BYTES {
            return Err(Diagnostic::new(
                Severity::Fatal,
                "FILE-SIZE",
                &name,
                "attachment over the size limit once decompressed",
            ));
        }
        if !found.iter().any(|(n, _)| n == &name) {
            found.push((name, content));
        }
    }
    let xmls: Vec<&(String, Vec<u8>)> = found
        .iter()
        .filter(|(n, _)| n.to_ascii_lowercase().ends_with(".xml"))
        .collect();
    let pick = KNOWN
        .iter()
        .find_map(|k| xmls.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)))
        .or_else(|| xmls.first())
        .copied();
    let Some((name, content)) = pick else {
        return Err(Diagnostic::new(
            Severity::Fatal,
            "FX-NO-XML",
            "/Root/Names/EmbeddedFiles",
            format!(
                "the PDF carries no XML invoice attachment (attachments: {})",
                if found.is_empty() {
                    "none".to_owned()
                } else {
                    found
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        ));
    };
    let mut notes = Vec::new();
    for (n, _) in found.iter().filter(|(n, _)| n != name) {
        if n.eq_ignore_ascii_case("zugferd-invoice.xml") && n != name {
            notes.push(Diagnostic::new(
                Severity::Warning,
                "FX-ZUGFERD1",
                n,
                format!("the PDF also carries {n}, a ZUGFeRD 1.0 invoice: {name} is read, {n} is ignored"),
            ));
            continue;
        }
        notes.push(Diagnostic::new(
            Severity::Info,
            "FX-ATTACHMENT",
            n,
            format!("other attachment {n} not read (the invoice is {name})"),
        ));
    }
    let content = content
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(content)
        .to_vec();
    Ok((name.clone(), content, notes))
}
