//! DOT output: it parses (with a small DOT reader below), nests clusters as
//! the drawing does, escapes every label, and matches its snapshots.

mod common;

use std::collections::HashMap;

use common::{nested, tutorial};
use taskgraph_viz::{to_dot, Drawing, DrawingError, Edge, Node, RankDir, State, Style};

/// What a DOT text declares.
#[derive(Debug, Default)]
struct Dot {
    /// `graph [...]` attributes and `name = value` statements at the top.
    graph: HashMap<String, String>,
    /// Node id, its attributes, and the subgraphs it is declared in, outermost
    /// first.
    nodes: Vec<(String, HashMap<String, String>, Vec<String>)>,
    /// Edges: from, to, attributes.
    edges: Vec<(String, String, HashMap<String, String>)>,
    /// Subgraph names with the subgraphs they are in, and their attributes.
    subgraphs: Vec<(String, Vec<String>, HashMap<String, String>)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// An identifier or a number.
    Id(String),
    /// A double-quoted string, escapes decoded.
    Str(String),
    /// One of `{ } [ ] ; , =`.
    Punct(char),
    /// `->`.
    Arrow,
}

/// Splits DOT into tokens; rejects anything a DOT reader would not take
/// from this crate (raw line breaks in strings, unknown characters).
fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '{' | '}' | '[' | ']' | ';' | ',' | '=' => {
                out.push(Tok::Punct(c));
                i += 1;
            }
            '-' if chars.get(i + 1) == Some(&'>') => {
                out.push(Tok::Arrow);
                i += 2;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\n') => return Err("raw line break in a string".into()),
                        Some('\\') => {
                            match chars.get(i + 1) {
                                Some('"') => s.push('"'),
                                Some('\\') => s.push('\\'),
                                Some('n') => s.push('\n'),
                                Some(&other) => {
                                    s.push('\\');
                                    s.push(other);
                                }
                                None => return Err("string ends in a backslash".into()),
                            }
                            i += 1;
                        }
                        Some(&other) => s.push(other),
                    }
                    i += 1;
                }
                i += 1;
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '.'))
                {
                    i += 1;
                }
                if i == start {
                    return Err(format!("stray `{c}`"));
                }
                out.push(Tok::Id(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    Ok(out)
}

/// Reads a `digraph`, checking the grammar of DOT's statements.
fn parse(text: &str) -> Result<Dot, String> {
    let toks = lex(text)?;
    let mut p = Parser {
        toks,
        at: 0,
        dot: Dot::default(),
        path: Vec::new(),
    };
    p.keyword("digraph")?;
    p.punct('{')?;
    p.statements()?;
    if p.at != p.toks.len() {
        return Err(format!("tokens after the graph: {:?}", &p.toks[p.at..]));
    }
    Ok(p.dot)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
    dot: Dot,
    path: Vec<String>,
}

impl Parser {
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn punct(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Punct(d)) if d == c => Ok(()),
            other => Err(format!("expected `{c}`, found {other:?}")),
        }
    }
    fn keyword(&mut self, k: &str) -> Result<(), String> {
        match self.next() {
            Some(Tok::Id(s)) if s == k => Ok(()),
            other => Err(format!("expected `{k}`, found {other:?}")),
        }
    }
    fn id(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Id(s) | Tok::Str(s)) => Ok(s),
            other => Err(format!("expected an identifier, found {other:?}")),
        }
    }
    /// Statements up to and including the closing `}`.
    fn statements(&mut self) -> Result<(), String> {
        loop {
            match self.peek() {
                Some(Tok::Punct('}')) => {
                    self.at += 1;
                    return Ok(());
                }
                Some(Tok::Punct(';')) => self.at += 1,
                None => return Err("missing `}`".into()),
                _ => self.statement()?,
            }
        }
    }
    fn statement(&mut self) -> Result<(), String> {
        let first = self.id()?;
        match first.as_str() {
            "graph" | "node" | "edge" => {
                let attrs = self.attributes()?;
                if first == "graph" && self.path.is_empty() {
                    self.dot.graph.extend(attrs);
                }
                return Ok(());
            }
            "subgraph" => {
                let name = self.id()?;
                self.punct('{')?;
                let outer = self.path.clone();
                let index = self.dot.subgraphs.len();
                self.dot
                    .subgraphs
                    .push((name.clone(), outer, HashMap::new()));
                self.path.push(name);
                self.statements()?;
                self.path.pop();
                let _ = index;
                return Ok(());
            }
            _ => {}
        }
        match self.peek() {
            Some(Tok::Punct('=')) => {
                self.at += 1;
                let value = self.id()?;
                match self.path.last() {
                    None => {
                        self.dot.graph.insert(first, value);
                    }
                    Some(name) => {
                        let name = name.clone();
                        let sub = self
                            .dot
                            .subgraphs
                            .iter_mut()
                            .rev()
                            .find(|s| s.0 == name)
                            .expect("open subgraph");
                        sub.2.insert(first, value);
                    }
                }
            }
            Some(Tok::Arrow) => {
                let mut ends = vec![first];
                while self.peek() == Some(&Tok::Arrow) {
                    self.at += 1;
                    ends.push(self.id()?);
                }
                let attrs = self.attributes()?;
                for pair in ends.windows(2) {
                    self.dot
                        .edges
                        .push((pair[0].clone(), pair[1].clone(), attrs.clone()));
                }
            }
            _ => {
                let attrs = self.attributes()?;
                self.dot.nodes.push((first, attrs, self.path.clone()));
            }
        }
        Ok(())
    }
    /// Zero or more `[a=b, c=d]` lists.
    fn attributes(&mut self) -> Result<HashMap<String, String>, String> {
        let mut out = HashMap::new();
        while self.peek() == Some(&Tok::Punct('[')) {
            self.at += 1;
            loop {
                if self.peek() == Some(&Tok::Punct(']')) {
                    self.at += 1;
                    break;
                }
                let key = self.id()?;
                self.punct('=')?;
                let value = self.id()?;
                if out.insert(key.clone(), value).is_some() {
                    return Err(format!("attribute `{key}` given twice"));
                }
                if matches!(self.peek(), Some(Tok::Punct(',' | ';'))) {
                    self.at += 1;
                }
            }
        }
        Ok(out)
    }
}

#[test]
fn the_checker_rejects_broken_dot() {
    assert!(parse("digraph { a -> b; }").is_ok());
    assert!(parse("digraph { a [label=\"x\"] }").is_ok());
    assert!(parse("digraph { a [label=\"x] }").is_err());
    assert!(parse("digraph { a [label=<b>] }").is_err());
    assert!(parse("digraph { subgraph cluster_0 { a }").is_err());
    assert!(parse("digraph { a -> }").is_err());
    assert!(parse("digraph { a [label] }").is_err());
}

#[test]
fn tutorial_graph_snapshot() {
    let d = tutorial(RankDir::TopBottom);
    let dot = to_dot(&d);
    let parsed = parse(&dot).unwrap();
    assert_eq!(parsed.nodes.len(), 31);
    assert_eq!(parsed.edges.len(), 38);
    assert_eq!(parsed.subgraphs.len(), 8);
    assert_eq!(parsed.graph["rankdir"], "TB");
    insta::assert_snapshot!(dot);
}

#[test]
fn clusters_nest_as_in_the_drawing() {
    let d = nested(RankDir::LeftRight);
    let dot = to_dot(&d);
    let parsed = parse(&dot).unwrap();
    assert_eq!(parsed.graph["rankdir"], "LR");
    let path = |name: &str| {
        parsed
            .subgraphs
            .iter()
            .find(|s| s.0 == name)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(path("cluster_0"), Vec::<String>::new());
    assert_eq!(path("cluster_1"), ["cluster_0"]);
    assert_eq!(path("cluster_2"), ["cluster_0"]);
    for (id, attrs, path) in &parsed.nodes {
        let v: usize = id[1..].parse().unwrap();
        let mut expected: Vec<String> = common::clusters_of(&d, v)
            .iter()
            .map(|k| format!("cluster_{k}"))
            .collect();
        expected.reverse();
        assert_eq!(path, &expected, "node {id}");
        assert_eq!(attrs["label"], d.nodes[v].label);
    }
    let outer = &parsed.subgraphs[0].2;
    assert_eq!(outer["label"], "outer");
    insta::assert_snapshot!(dot);
}

#[test]
fn labels_are_escaped() {
    let tricky = "a<b & \"c\" \\ d\nnext line 'é' {x} [y]; z=1, -> //";
    let mut d = Drawing::new(RankDir::TopBottom);
    let k = d.add_cluster(tricky, None);
    let a = d.add_node(Node::new(tricky).in_cluster(k).with_tooltip(tricky));
    let b = d.add_node(Node::new("plain").with_style(Style::State(State::Failed)));
    d.edges.push(Edge::new(a, b).with_label(tricky));
    let dot = to_dot(&d);
    let parsed = parse(&dot).unwrap();
    let node = |parsed: &Dot, id: &str| parsed.nodes.iter().find(|n| n.0 == id).unwrap().1.clone();
    assert_eq!(node(&parsed, "n0")["label"], tricky);
    assert_eq!(node(&parsed, "n0")["tooltip"], tricky);
    assert_eq!(parsed.edges[0].2["label"], tricky);
    assert_eq!(parsed.subgraphs[0].2["label"], tricky);
    assert_eq!(node(&parsed, "n1")["class"], "state-failed");
    // Other control characters become spaces.
    d.nodes[1].label = "bell\u{7}tab\t".into();
    let parsed = parse(&to_dot(&d)).unwrap();
    assert_eq!(node(&parsed, "n1")["label"], "bell tab ");
}

#[test]
fn validation_names_the_broken_reference() {
    let mut d = Drawing::default();
    d.add_node(Node::new("a"));
    assert_eq!(d.validate(), Ok(()));

    d.add_edge(0, 3);
    assert_eq!(
        d.validate(),
        Err(DrawingError::EdgeEndpoint { edge: 0, node: 3 })
    );
    d.edges.clear();

    d.nodes[0].cluster = Some(2);
    assert_eq!(
        d.validate(),
        Err(DrawingError::NodeCluster {
            node: 0,
            cluster: 2
        })
    );
    d.nodes[0].cluster = None;

    d.add_cluster("x", Some(9));
    assert_eq!(
        d.validate(),
        Err(DrawingError::ClusterParent {
            cluster: 0,
            parent: 9
        })
    );
    d.clusters[0].parent = Some(1);
    d.add_cluster("y", Some(2));
    d.add_cluster("z", Some(1));
    assert!(matches!(
        d.validate(),
        Err(DrawingError::ClusterCycle { .. })
    ));
    assert_eq!(
        DrawingError::ClusterCycle { cluster: 1 }.to_string(),
        "cluster 1 is inside itself"
    );
    d.clusters[2].parent = None;
    assert_eq!(d.validate(), Ok(()));
}

#[test]
#[should_panic(expected = "invalid drawing: node 0 is in cluster 4, which does not exist")]
fn an_invalid_drawing_panics() {
    let mut d = Drawing::default();
    d.add_node(Node::new("a").in_cluster(4));
    to_dot(&d);
}
