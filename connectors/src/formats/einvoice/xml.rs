//! A small, bounded XML tree for e-invoices: local names only, no DTD (a DOCTYPE is refused,
//! so no entity can expand), a depth limit, and positions in every syntax error.

use crate::formats::diag::{Diagnostic, Severity};
use quick_xml::events::Event;
use quick_xml::Reader;

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

/// Decodes the bytes as UTF-8, or as ISO-8859-1 when they are not UTF-8 (old generators
/// declare Latin-1 and write it), dropping a byte-order mark.
fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(b.iter().map(|&c| char::from(c)).collect()),
    }
}

/// The `encoding` of the XML declaration, if any.
pub fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let head = &b[..b.len().min(200)];
    // The first 200 bytes may end inside a character: keep the valid prefix.
    let head = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    let decl = head.strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let i = decl.find("encoding")?;
    let rest = decl[i + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    // Only an ASCII quote opens the value (anything else, say a stray U+FEFF, is no
    // declaration), so slicing one byte past it stays on a character boundary.
    let q = rest.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let rest = &rest[1..];
    Some(rest[..rest.find(q)?].to_owned())
}

/// Parses a whole document into its root element.
pub fn parse(bytes: &[u8]) -> Result<Node, Diagnostic> {
    let text = decode(bytes);
    let mut reader = Reader::from_str(&text);
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
                for a in e.attributes().with_checks(false).flatten() {
                    let v = a
                        .unescape_value()
                        .map(|v| v.into_owned())
                        .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
                    node.attrs.push((local(a.key.as_ref()), v));
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
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><Invoice>&lol2;</Invoice>"#;
        assert_eq!(parse(bomb).unwrap_err().rule, "XML-DTD");
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert_eq!(parse(deep.as_bytes()).unwrap_err().rule, "XML-DEPTH");
        assert_eq!(parse(b"<a><b></a>").unwrap_err().rule, "XML-SYNTAX");
        assert_eq!(parse(b"").unwrap_err().rule, "XML-SYNTAX");
        assert_eq!(parse(b"<a>&custom;</a>").unwrap_err().rule, "XML-ENTITY");
    }

    #[test]
    fn local_names_text_and_attributes() {
        let n = parse(br#"<r:A xmlns:r="x"><r:B r:k="v">t &amp; u</r:B><C/></r:A>"#).unwrap();
        assert_eq!(n.name, "A");
        let b = n.child("B").unwrap();
        assert_eq!(b.text, "t & u");
        assert_eq!(b.attr("k"), Some("v"));
        assert!(n.path(&["C"]).is_some());
    }
}
