//! Reads `template.yaml` and `docs/openapi.yaml` into a small owned tree that keeps
//! CloudFormation's short-form tags, for the tests that hold both files to the route table.

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use std::fmt;
use std::path::{Path, PathBuf};

/// A YAML node. Mapping keys are kept as text (YAML may parse `200` as a number).
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
    /// A tagged node, e.g. `!Ref Table` is `Tagged("!Ref", Str("Table"))`.
    Tagged(String, Box<Node>),
}

#[derive(Debug)]
pub struct LoadError(String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// The workspace root (this crate sits one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Loads the single YAML document of a file under the workspace root.
pub fn load(relative: &str) -> Result<Node, LoadError> {
    let path = workspace_root().join(relative);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
    parse(&text).map_err(|LoadError(e)| LoadError(format!("{}: {e}", path.display())))
}

/// Parses one YAML document.
pub fn parse(text: &str) -> Result<Node, LoadError> {
    let docs = Yaml::load_from_str(text).map_err(|e| LoadError(e.to_string()))?;
    match docs.as_slice() {
        [doc] => convert(doc),
        other => Err(LoadError(format!(
            "expected one YAML document, found {}",
            other.len()
        ))),
    }
}

fn scalar_text(s: &Scalar<'_>) -> String {
    match s {
        Scalar::Null => "null".into(),
        Scalar::Boolean(b) => b.to_string(),
        Scalar::Integer(i) => i.to_string(),
        Scalar::FloatingPoint(f) => f.to_string(),
        Scalar::String(s) => s.to_string(),
    }
}

fn convert(y: &Yaml<'_>) -> Result<Node, LoadError> {
    Ok(match y {
        Yaml::Value(s) => match s {
            Scalar::Null => Node::Null,
            Scalar::Boolean(b) => Node::Bool(*b),
            Scalar::Integer(i) => Node::Int(*i),
            Scalar::FloatingPoint(f) => Node::Float(f.into_inner()),
            Scalar::String(s) => Node::Str(s.to_string()),
        },
        Yaml::Representation(text, _, tag) => {
            let value = Node::Str(text.to_string());
            match tag {
                Some(t) => Node::Tagged(format!("{}{}", t.handle, t.suffix), Box::new(value)),
                None => value,
            }
        }
        Yaml::Sequence(items) => Node::Seq(items.iter().map(convert).collect::<Result<_, _>>()?),
        Yaml::Mapping(map) => {
            let mut out = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = match k {
                    Yaml::Value(s) => scalar_text(s),
                    Yaml::Representation(text, _, _) => text.to_string(),
                    other => return Err(LoadError(format!("unsupported mapping key {other:?}"))),
                };
                out.push((key, convert(v)?));
            }
            Node::Map(out)
        }
        Yaml::Tagged(tag, inner) => Node::Tagged(
            format!("{}{}", tag.handle, tag.suffix),
            Box::new(convert(inner)?),
        ),
        Yaml::Alias(_) => return Err(LoadError("YAML aliases are not supported".into())),
        Yaml::BadValue => return Err(LoadError("unparsable YAML value".into())),
    })
}

impl Node {
    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follows a path of mapping keys.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Mapping entries, in document order.
    pub fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match self {
            Node::Seq(items) => items,
            _ => &[],
        }
    }

    /// A scalar string or a list of them (IAM's `Action: x` or `Action: [x, y]`).
    pub fn one_or_many(&self) -> Vec<&Node> {
        match self {
            Node::Seq(items) => items.iter().collect(),
            other => vec![other],
        }
    }

    /// The tag and tagged value, if tagged.
    pub fn tagged(&self) -> Option<(&str, &Node)> {
        match self {
            Node::Tagged(tag, inner) => Some((tag, inner)),
            _ => None,
        }
    }

    /// Every node of the tree, this one first.
    pub fn walk(&self) -> Vec<&Node> {
        let mut out = vec![self];
        let mut i = 0;
        while i < out.len() {
            let node = out[i];
            match node {
                Node::Seq(items) => out.extend(items.iter()),
                Node::Map(entries) => out.extend(entries.iter().map(|(_, v)| v)),
                Node::Tagged(_, inner) => out.push(inner),
                _ => {}
            }
            i += 1;
        }
        out
    }

    /// All text in this subtree (strings, and the strings inside `!Sub`, `!Join`, …),
    /// for "does this refer to X" questions.
    pub fn text(&self) -> String {
        self.walk()
            .into_iter()
            .filter_map(Node::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// CloudFormation helpers over the template tree.
pub mod cfn {
    use super::Node;

    /// `(logical id, resource)` of every resource of `kind`.
    pub fn resources<'a>(template: &'a Node, kind: &str) -> Vec<(&'a str, &'a Node)> {
        template
            .get("Resources")
            .map(Node::entries)
            .unwrap_or_default()
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Node::as_str) == Some(kind))
            .map(|(id, r)| (id.as_str(), r))
            .collect()
    }

    pub fn resource<'a>(template: &'a Node, id: &str) -> Option<&'a Node> {
        template.get("Resources")?.get(id)
    }

    /// The logical id a `!Ref X` or `!GetAtt X.Attr` / `!GetAtt [X, Attr]` points at.
    pub fn target(node: &Node) -> Option<&str> {
        let (tag, inner) = node.tagged()?;
        match tag {
            "!Ref" => inner.as_str(),
            "!GetAtt" => match inner {
                Node::Str(s) => s.split('.').next(),
                Node::Seq(parts) => parts.first().and_then(Node::as_str),
                _ => None,
            },
            _ => None,
        }
    }
}

/// JSON-pointer resolution of local `$ref`s (`#/components/...`).
pub fn resolve_ref<'a>(root: &'a Node, reference: &str) -> Option<&'a Node> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    let pointer = pointer.strip_prefix('/')?;
    pointer.split('/').try_fold(root, |node, raw| {
        let key = raw.replace("~1", "/").replace("~0", "~");
        match node {
            Node::Seq(items) => items.get(key.parse::<usize>().ok()?),
            _ => node.get(&key),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_tags_are_kept() {
        let n =
            parse("a: !Ref Table\nb: !GetAtt Role.Arn\nc: !Sub '${X}/y'\n\"200\": x\n").unwrap();
        assert_eq!(
            n.get("a").and_then(|a| a.tagged()).map(|t| t.0),
            Some("!Ref")
        );
        assert_eq!(n.get("a").and_then(cfn::target), Some("Table"));
        assert_eq!(n.get("b").and_then(cfn::target), Some("Role"));
        assert_eq!(n.get("c").map(Node::text), Some("${X}/y".to_owned()));
        assert!(n.get("200").is_some());
    }

    #[test]
    fn refs_resolve_as_json_pointers() {
        let n =
            parse("components:\n  schemas:\n    A~B: {type: string}\n    a/b: {type: integer}\n")
                .unwrap();
        assert!(resolve_ref(&n, "#/components/schemas/A~0B").is_some());
        assert!(resolve_ref(&n, "#/components/schemas/a~1b").is_some());
        assert!(resolve_ref(&n, "#/components/schemas/C").is_none());
        assert!(resolve_ref(&n, "other.yaml#/x").is_none());
    }
}
