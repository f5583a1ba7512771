//! A small, bounded XML tree for e-invoices: local names only (the root keeps its namespace),
//! no DTD (a DOCTYPE is refused, so no entity can expand), a depth limit, positions in every
//! syntax error, and the declared encoding honoured (see [`decode`]).

use crate::formats::diag::{Diagnostic, Severity};
use crate::formats::encoding::{self, Sniffed};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::borrow::Cow;

/// Deepest element nesting accepted (real invoices stay under 15).
pub const MAX_DEPTH: usize = 64;
/// Most elements accepted in one document.
pub const MAX_NODES: usize = 2_000_000;

/// An element: its local name, attributes (local names), text and children.
#[derive(Clone, Debug, Default)]
pub struct Node {
    /// Local name (prefix removed).
    pub name: String,
    /// Attributes with local names.
    pub attrs: Vec<(String, String)>,
    /// Concatenated text content.
    pub text: String,
    /// Child elements in order.
    pub children: Vec<Node>,
    /// Namespace URI (read on the root element only, from its own declarations).
    pub namespace: Option<String>,
}

impl Node {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows first children by local names.
    pub fn path(&self, names: &[&str]) -> Option<&Node> {
        let mut n = self;
        for name in names {
            n = n.child(name)?;
        }
        Some(n)
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn local(name: &[u8]) -> String {
    let s = match name.iter().rposition(|b| *b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    };
    String::from_utf8_lossy(s).into_owned()
}

fn err(rule: &str, pos: u64, msg: impl Into<String>) -> Diagnostic {
    Diagnostic::new(Severity::Fatal, rule, format!("byte {pos}"), msg)
}

/// The document's text in UTF-8, decoded with the encoding its byte-order mark, first bytes or
/// declaration name ([`encoding::sniff_xml`]), and what is worth saying about it: an unknown
/// declared encoding (read as UTF-8, a warning) and bytes that are not valid in the encoding
/// (replaced by U+FFFD, an error naming the first one's offset).
pub fn decode(bytes: &[u8]) -> (Cow<'_, str>, Sniffed, Vec<Diagnostic>) {
    let sniffed = encoding::sniff_xml(bytes);
    let mut notes = Vec::new();
    if let Some(label) = &sniffed.unknown {
        notes.push(Diagnostic::new(
            Severity::Warning,
            "XML-ENCODING",
            "/?xml",
            format!("declared encoding {label:?} is not a known character set: read as UTF-8"),
        ));
    }
    let body = bytes.get(sniffed.bom..).unwrap_or_default();
    if sniffed.encoding == encoding_rs::UTF_8 {
        if let Ok(s) = std::str::from_utf8(body) {
            return (Cow::Borrowed(s), sniffed, notes);
        }
    }
    let (text, bad) = encoding::decode(bytes, &sniffed);
    if let Some(msg) = bad.message(&sniffed) {
        notes.push(Diagnostic::new(
            Severity::Error,
            "XML-ENCODING",
            format!("byte {}", bad.first.unwrap_or(0)),
            msg,
        ));
    }
    (Cow::Owned(text), sniffed, notes)
}

/// The namespace URI of the element named `qname` (prefix included) from its own attributes:
/// `xmlns:prefix` or the default `xmlns`.
fn namespace_of(qname: &[u8], attrs: &[(Vec<u8>, String)]) -> Option<String> {
    let key: Vec<u8> = match qname.iter().position(|b| *b == b':') {
        Some(i) => [b"xmlns:".as_slice(), &qname[..i]].concat(),
        None => b"xmlns".to_vec(),
    };
    attrs
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.trim().to_owned())
}

/// Parses a whole document into its root element.
/// Parses a whole document (already decoded, see [`decode`]) into its root element; the root
/// carries its namespace URI.
pub fn parse(text: &str) -> Result<Node, Diagnostic> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut count = 0usize;
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| {
            err(
                "XML-SYNTAX",
                reader.error_position(),
                format!("malformed XML: {e}"),
            )
        })?;
        match ev {
            Event::DocType(_) => {
                return Err(err(
                    "XML-DTD",
                    pos,
                    "a DOCTYPE is not allowed in an e-invoice (entity expansion is refused)",
                ))
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                count += 1;
                if count > MAX_NODES {
                    return Err(err(
                        "XML-SIZE",
                        pos,
                        format!("more than {MAX_NODES} elements"),
                    ));
                }
                let mut node = Node {
                    name: local(e.name().as_ref()),
                    ..Default::default()
                };
                let is_root = root.is_none() && stack.is_empty();
                let mut raw_attrs: Vec<(Vec<u8>, String)> = Vec::new();
                for a in e.attributes().with_checks(false).flatten() {
                    let v = a
                        .unescape_value()
                        .map(|v| v.into_owned())
                        .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
                    if is_root {
                        raw_attrs.push((a.key.as_ref().to_vec(), v.clone()));
                    }
                    node.attrs.push((local(a.key.as_ref()), v));
                }
                if is_root {
                    node.namespace = namespace_of(e.name().as_ref(), &raw_attrs);
                }
                let empty = matches!(ev, Event::Empty(_));
                if empty {
                    match stack.last_mut() {
                        Some(p) => p.children.push(node),
                        None => root = Some(node),
                    }
                } else {
                    if stack.len() >= MAX_DEPTH {
                        return Err(err(
                            "XML-DEPTH",
                            pos,
                            format!("elements nested deeper than {MAX_DEPTH}"),
                        ));
                    }
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let Some(node) = stack.pop() else {
                    return Err(err("XML-SYNTAX", pos, "closing tag without an opening tag"));
                };
                match stack.last_mut() {
                    Some(p) => p.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                if let Some(cur) = stack.last_mut() {
                    let s = t.unescape().map_err(|e| {
                        err(
                            "XML-ENTITY",
                            pos,
                            format!("unknown or malformed entity reference: {e}"),
                        )
                    })?;
                    cur.text.push_str(&s);
                }
            }
            Event::CData(c) => {
                if let Some(cur) = stack.last_mut() {
                    cur.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::Eof => break,
            _ => {}
        }
        if root.is_some() && stack.is_empty() {
            // Anything after the root other than comments/whitespace is ignored.
            if let Some(r) = root.take() {
                return Ok(r);
            }
        }
    }
    if !stack.is_empty() {
        return Err(err(
            "XML-SYNTAX",
            reader.buffer_position(),
            format!(
                "unexpected end of file inside <{}>",
                stack.last().map(|n| n.name.as_str()).unwrap_or("")
            ),
        ));
    }
    root.ok_or_else(|| {
        err(
            "XML-SYNTAX",
            0,
            "no root element: the file is empty or not XML",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_doctype_and_depth() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><Invoice>&lol2;</Invoice>"#;
        assert_eq!(parse(bomb).unwrap_err().rule, "XML-DTD");
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert_eq!(parse(&deep).unwrap_err().rule, "XML-DEPTH");
        assert_eq!(parse("<a><b></a>").unwrap_err().rule, "XML-SYNTAX");
        assert_eq!(parse("").unwrap_err().rule, "XML-SYNTAX");
        assert_eq!(parse("<a>&custom;</a>").unwrap_err().rule, "XML-ENTITY");
    }

    #[test]
    fn local_names_text_and_attributes() {
        let n = parse(r#"<r:A xmlns:r="x"><r:B r:k="v">t &amp; u</r:B><C/></r:A>"#).unwrap();
        assert_eq!(n.name, "A");
        assert_eq!(n.namespace.as_deref(), Some("x"));
        assert_eq!(parse("<A/>").unwrap().namespace, None);
        let b = n.child("B").unwrap();
        assert_eq!(b.text, "t & u");
        assert_eq!(b.attr("k"), Some("v"));
        assert!(n.path(&["C"]).is_some());
    }
}
