//! Reading configuration files: TOML to the schema types, with every error placed at its file,
//! key path, line and column.
//!
//! Deserialization goes through `serde_path_to_error` (the key path) and `toml` (the byte span
//! of the offending value); semantic checks done later locate their key in the same file with
//! [`SourceFile::locate`], which walks the `toml_edit` document keeping spans. Error messages
//! never quote a TOML source line, and string values in serde's type errors are elided: a
//! secret pasted into the wrong key is not echoed back.

use serde::de::DeserializeOwned;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml_edit::{ImDocument, Item, Value};

/// One segment of a key path: a table key or an array index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A key of a table.
    Key(String),
    /// An index in an array (or array of tables).
    Index(usize),
}

/// A key path inside one file, such as `sources[0].tryton.url`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    /// The path of these keys (no indexes).
    pub fn keys(keys: &[&str]) -> Self {
        KeyPath(keys.iter().map(|k| Seg::Key((*k).to_owned())).collect())
    }

    /// This path followed by a key.
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_owned()));
        KeyPath(v)
    }

    /// This path followed by an index.
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }

    /// True for the path of the whole file.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses a dotted path as policies write it in their messages (`dunning.steps[1]`).
    pub fn parse_dotted(s: &str) -> Option<Self> {
        let mut out = Vec::new();
        for part in s.split('.') {
            let (name, rest) = match part.find('[') {
                Some(i) => part.split_at(i),
                None => (part, ""),
            };
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !name_ok {
                return None;
            }
            out.push(Seg::Key(name.to_owned()));
            let mut rest = rest;
            while let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']')?;
                out.push(Seg::Index(r[..end].parse().ok()?));
                rest = &r[end + 1..];
            }
            if !rest.is_empty() {
                return None;
            }
        }
        Some(KeyPath(out))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            match s {
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// A line and column, both counted from 1 (columns in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// A configuration file's text, with its `toml_edit` document when it parses.
pub struct SourceFile {
    /// The file's path, as shown in messages.
    pub path: PathBuf,
    text: String,
    doc: Option<ImDocument<String>>,
}

/// Why a file could not be turned into its schema type.
#[derive(Debug)]
pub struct ParseFailure {
    /// The key path of the error (empty for a syntax error or a missing top-level key).
    pub key: KeyPath,
    /// Where in the file.
    pub location: Option<Location>,
    /// True for TOML syntax errors, false for schema errors (unknown key, wrong type…).
    pub syntax: bool,
    /// What is wrong (no source snippet, string values elided).
    pub message: String,
}

impl SourceFile {
    /// Reads a file.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(Self::from_text(path.to_owned(), text))
    }

    /// Wraps text already read.
    pub fn from_text(path: PathBuf, text: String) -> Self {
        let doc = ImDocument::parse(text.clone()).ok();
        SourceFile { path, text, doc }
    }

    /// The line and column of a byte offset.
    pub fn location_of(&self, offset: usize) -> Location {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }

    /// Where the deepest existing part of `path` is written: the key's own position when it
    /// has one, else its value's (or its table header's). `None` when nothing of the path is in
    /// the file (a missing key with a default) or the file did not parse.
    pub fn locate(&self, path: &KeyPath) -> Option<Location> {
        self.locate_span(path).map(|r| self.location_of(r.start))
    }

    fn locate_span(&self, path: &KeyPath) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Item(doc.as_item());
        let mut best: Option<Range<usize>> = None;
        for seg in &path.0 {
            let next = match (seg, node) {
                (Seg::Key(k), Node::Item(Item::Table(t))) => t
                    .get_key_value(k)
                    .map(|(key, it)| (key.span().or_else(|| it.span()), Node::Item(it))),
                (Seg::Key(k), Node::Item(Item::Value(Value::InlineTable(t))))
                | (Seg::Key(k), Node::Value(Value::InlineTable(t))) => t
                    .get_key_value(k)
                    .map(|(key, it)| (key.span().or_else(|| it.span()), Node::Item(it))),
                (Seg::Index(i), Node::Item(Item::ArrayOfTables(a))) => {
                    a.get(*i).map(|t| (t.span(), Node::Table(t)))
                }
                (Seg::Key(k), Node::Table(t)) => t
                    .get_key_value(k)
                    .map(|(key, it)| (key.span().or_else(|| it.span()), Node::Item(it))),
                (Seg::Index(i), Node::Item(Item::Value(Value::Array(a))))
                | (Seg::Index(i), Node::Value(Value::Array(a))) => {
                    a.get(*i).map(|v| (v.span(), Node::Value(v)))
                }
                _ => None,
            };
            match next {
                Some((span, n)) => {
                    if span.is_some() {
                        best = span;
                    }
                    node = n;
                }
                None => break,
            }
        }
        best
    }

    /// The `type` tag of the table at `path`, if it is a table with a string `type`.
    fn type_tag(&self, path: &KeyPath) -> Option<(String, toml_edit::Table)> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Item(doc.as_item());
        for seg in &path.0 {
            node = match (seg, node) {
                (Seg::Key(k), Node::Item(Item::Table(t))) | (Seg::Key(k), Node::Table(t)) => {
                    Node::Item(t.get(k)?)
                }
                (Seg::Index(i), Node::Item(Item::ArrayOfTables(a))) => Node::Table(a.get(*i)?),
                _ => return None,
            };
        }
        let table = match node {
            Node::Item(Item::Table(t)) | Node::Table(t) => t.clone(),
            _ => return None,
        };
        let tag = table.get("type")?.as_str()?.to_owned();
        Some((tag, table))
    }

    /// Deserializes the whole file into `T`; on failure, every schema error of the file, each
    /// placed: after each error the offending key is taken out of a copy of the document and
    /// the copy read again, until it reads or an error cannot be taken out (a missing key).
    pub fn parse_all<T: DeserializeOwned>(&self) -> Result<T, Vec<ParseFailure>> {
        let first = match self.parse::<T>() {
            Ok(t) => return Ok(t),
            Err(f) => f,
        };
        if first.syntax {
            return Err(vec![first]);
        }
        let Ok(mut doc) = self.text.parse::<toml_edit::DocumentMut>() else {
            return Err(vec![first]);
        };
        let mut removed: Vec<KeyPath> = Vec::new();
        let mut failures = vec![first];
        let mut take_out = failures.last().map(|f| f.key.clone());
        for _ in 0..64 {
            if let Some(key) = take_out.take() {
                if key.is_root() || !remove_key(&mut doc, &key) {
                    break;
                }
                removed.push(key);
            }
            // Read the reduced document, but place its errors in the original file.
            let reduced = SourceFile::from_text(self.path.clone(), doc.to_string());
            match reduced.parse::<T>() {
                Ok(_) => break,
                Err(mut f) => {
                    // A required key we took out ourselves is not a new mistake.
                    if let Some(name) = f.message.strip_prefix("missing field `") {
                        let name = name.split('`').next().unwrap_or("");
                        let ours = removed.iter().any(|k| {
                            k.0.last() == Some(&Seg::Key(name.to_owned()))
                                && KeyPath(k.0[..k.0.len() - 1].to_vec()) == f.key
                        });
                        if ours {
                            // Take the table out too (reported already) and read on, unless
                            // it is the file itself.
                            if f.key.is_root() || !remove_key(&mut doc, &f.key) {
                                break;
                            }
                            removed.push(f.key.clone());
                            continue;
                        }
                    }
                    if removed.contains(&f.key) {
                        break;
                    }
                    f.location = self.locate(&f.key).or(f.location);
                    take_out = Some(f.key.clone());
                    failures.push(f);
                }
            }
        }
        Err(failures)
    }

    /// Deserializes the whole file into `T`; the first error is returned, placed.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ParseFailure> {
        if let Err(e) = ImDocument::parse(self.text.as_str()) {
            return Err(ParseFailure {
                key: KeyPath::default(),
                location: e.span().map(|r| self.location_of(r.start)),
                syntax: true,
                message: clean_message(e.message()),
            });
        }
        deserialize_str::<T>(&self.text).map_err(|(key, span, message)| {
            let mut failure = self.place(key, span, message);
            self.refine_tagged(&mut failure);
            failure
        })
    }

    fn place(&self, key: KeyPath, span: Option<Range<usize>>, message: String) -> ParseFailure {
        // The key path's own position is the most precise; toml's span covers the value (or
        // the whole table, for an error raised after buffering a tagged enum).
        let location = self
            .locate(&key)
            .filter(|_| !key.is_root())
            .or_else(|| span.map(|r| self.location_of(r.start)));
        ParseFailure {
            key,
            location,
            syntax: false,
            message,
        }
    }

    /// A closed `type`-tagged enum is buffered by serde before its variant is read, which
    /// loses the key path and position inside the variant. When an error is placed on such a
    /// table (`sources[i]`, `writeback`), the table is read again, without its tag, as the
    /// variant's own struct, which gives the exact key.
    fn refine_tagged(&self, failure: &mut ParseFailure) {
        let (prefix, inner_err) = match failure.key.0.as_slice() {
            [Seg::Key(a), Seg::Index(_), ..] if a == "sources" => {
                (KeyPath(failure.key.0[..2].to_vec()), true)
            }
            [Seg::Key(a), ..] if a == "writeback" => (KeyPath(failure.key.0[..1].to_vec()), true),
            _ => (KeyPath::default(), false),
        };
        if !inner_err {
            return;
        }
        let Some((tag, mut table)) = self.type_tag(&prefix) else {
            return;
        };
        table.remove("type");
        let mut doc = toml_edit::DocumentMut::new();
        for (k, v) in table.iter() {
            doc.insert(k, v.clone());
        }
        let text = doc.to_string();
        let table = match prefix.0.first() {
            Some(Seg::Key(k)) => k.clone(),
            _ => return,
        };
        let result = crate::registry::reread_variant(&table, &tag, &text);
        if let Some((inner, _, message)) = result {
            let mut key = prefix;
            key.0.extend(inner.0);
            if let Some(location) = self.locate(&key) {
                failure.location = Some(location);
            }
            failure.key = key;
            failure.message = message;
        }
    }
}

/// Takes the key at `path` out of `doc`; false when it is not there.
fn remove_key(doc: &mut toml_edit::DocumentMut, path: &KeyPath) -> bool {
    remove_in_table(doc.as_table_mut(), &path.0)
}

fn remove_in_table(t: &mut toml_edit::Table, path: &[Seg]) -> bool {
    match path {
        [Seg::Key(k)] => t.remove(k).is_some(),
        [Seg::Key(k), rest @ ..] => t.get_mut(k).is_some_and(|i| remove_in_item(i, rest)),
        _ => false,
    }
}

fn remove_in_item(item: &mut Item, path: &[Seg]) -> bool {
    match (item, path) {
        (Item::Table(t), _) => remove_in_table(t, path),
        (Item::ArrayOfTables(a), [Seg::Index(i), rest @ ..]) => {
            a.get_mut(*i).is_some_and(|t| remove_in_table(t, rest))
        }
        (Item::Value(v), _) => remove_in_value(v, path),
        _ => false,
    }
}

fn remove_in_value(v: &mut Value, path: &[Seg]) -> bool {
    match (v, path) {
        (Value::InlineTable(t), [Seg::Key(k)]) => t.remove(k).is_some(),
        (Value::InlineTable(t), [Seg::Key(k), rest @ ..]) => {
            t.get_mut(k).is_some_and(|v| remove_in_value(v, rest))
        }
        (Value::Array(a), [Seg::Index(i), rest @ ..]) if !rest.is_empty() => {
            a.get_mut(*i).is_some_and(|v| remove_in_value(v, rest))
        }
        _ => false,
    }
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
    Table(&'a toml_edit::Table),
}

/// A deserialization error: key path, byte span, message.
pub type DeError = (KeyPath, Option<Range<usize>>, String);

/// Deserializes TOML text, the error placed at its key path.
pub fn deserialize_str<T: DeserializeOwned>(text: &str) -> Result<T, DeError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let mut key = convert_path(e.path());
        let inner = e.into_inner();
        let message = clean_message(inner.message());
        // An unknown key is named in the message; make it part of the path so that the
        // position is the unknown key's own.
        if let Some(name) = unknown_field(&message) {
            if key.0.last() != Some(&Seg::Key(name.to_owned())) {
                key.0.push(Seg::Key(name.to_owned()));
            }
        }
        (key, inner.span(), message)
    })
}

fn convert_path(p: &serde_path_to_error::Path) -> KeyPath {
    use serde_path_to_error::Segment;
    KeyPath(
        p.iter()
            .filter_map(|s| match s {
                Segment::Seq { index } => Some(Seg::Index(*index)),
                Segment::Map { key } => Some(Seg::Key(key.clone())),
                Segment::Enum { .. } | Segment::Unknown => None,
            })
            .collect(),
    )
}

/// The key named by serde's "unknown field `x`, expected …" message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.find('`').map(|end| &rest[..end])
}

/// serde's messages quote string values (`invalid type: string "…", expected …`): the value
/// is elided, in case a secret was pasted into the wrong key. Messages are also made
/// single-line.
fn clean_message(message: &str) -> String {
    let one_line = message.trim().replace('\n', " ");
    let mut out = String::with_capacity(one_line.len());
    let mut rest = one_line.as_str();
    for marker in ["invalid type: string \"", "invalid value: string \""] {
        if let Some(start) = rest.find(marker) {
            let after = &rest[start + marker.len()..];
            if let Some(end) = after.find("\", expected") {
                out.push_str(&rest[..start]);
                out.push_str(&marker[..marker.len() - 2]);
                out.push_str(" (value not shown)");
                rest = &after[end + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        x: u32,
    }

    fn file(text: &str) -> SourceFile {
        SourceFile::from_text(PathBuf::from("t.toml"), text.to_owned())
    }

    #[test]
    fn unknown_key_is_placed_on_its_line() {
        let f = file("a = 1\n\n[inner]\nx = 2\ny = 3\n");
        let e = f.parse::<T>().unwrap_err();
        assert_eq!(e.key.to_string(), "inner.y");
        assert_eq!(e.location, Some(Location { line: 5, column: 1 }));
        assert!(e.message.contains("unknown field `y`"), "{}", e.message);
    }

    #[test]
    fn wrong_type_in_array_of_tables_is_placed() {
        let f = file("a = 1\n[[list]]\nx = 1\n[[list]]\nx = \"secret-value\"\n");
        let e = f.parse::<T>().unwrap_err();
        assert_eq!(e.key.to_string(), "list[1].x");
        assert_eq!(e.location.map(|l| l.line), Some(5));
        assert!(!e.message.contains("secret-value"), "{}", e.message);
    }

    #[test]
    fn syntax_error_is_placed() {
        let f = file("a = 1\nb = \n");
        let e = f.parse::<T>().unwrap_err();
        assert!(e.syntax);
        assert_eq!(e.location.map(|l| l.line), Some(2));
    }

    #[test]
    fn every_wrong_type_is_reported_not_only_the_first() {
        let f = file(
            "a = \"one\"\n[inner]\nx = \"two\"\n[[list]]\nx = 1\n[[list]]\nx = \"three\"\ny = 4\n",
        );
        let all = f.parse_all::<T>().unwrap_err();
        let keys: Vec<String> = all.iter().map(|e| e.key.to_string()).collect();
        assert_eq!(keys, ["a", "inner.x", "list[1].x", "list[1].y"], "{all:?}");
        assert_eq!(
            all.iter()
                .map(|e| e.location.map(|l| l.line))
                .collect::<Vec<_>>(),
            [Some(1), Some(3), Some(7), Some(8)]
        );
        // Taking out a wrong required key does not add a "missing field" of our own.
        assert!(all.iter().all(|e| !e.message.contains("missing field")));
    }

    #[test]
    fn dotted_paths_parse() {
        let p = KeyPath::parse_dotted("dunning.steps[1]").unwrap();
        assert_eq!(p.to_string(), "dunning.steps[1]");
        assert!(KeyPath::parse_dotted("not a path").is_none());
    }
}
