//! The SVG the plotters write, read back: a small XML checker that
//! returns the elements, and the points of a step path.

use std::collections::BTreeMap;

/// One element of a parsed SVG.
#[derive(Debug)]
pub struct Element {
    pub name: String,
    pub attrs: BTreeMap<String, String>,
}

impl Element {
    pub fn class(&self) -> &str {
        self.attrs.get("class").map_or("", String::as_str)
    }
}

/// A small well-formedness check of XML as the plotter writes it (no
/// CDATA, comments or DOCTYPE): tags balance, attributes are quoted
/// once each, text and values hold no raw `<` and only known entities.
/// Returns the elements in document order.
pub fn parse_xml(doc: &str) -> Result<Vec<Element>, String> {
    fn text_ok(t: &str) -> Result<(), String> {
        if t.contains('<') {
            return Err(format!("raw < in {t:?}"));
        }
        let mut rest = t;
        while let Some(i) = rest.find('&') {
            rest = &rest[i..];
            let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| rest.starts_with(e));
            if !ok {
                return Err(format!("bad entity in {t:?}"));
            }
            rest = &rest[1..];
        }
        Ok(())
    }
    let body = doc
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .ok_or("no XML declaration")?;
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut rest = body;
    let mut roots = 0;
    while let Some(open) = rest.find('<') {
        text_ok(&rest[..open])?;
        if stack.is_empty() && !rest[..open].trim().is_empty() {
            return Err("text outside the root".into());
        }
        let close = rest[open..].find('>').ok_or("unclosed tag")? + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop().as_deref() != Some(name.trim()) {
                return Err(format!("</{name}> closes nothing open"));
            }
            continue;
        }
        let (tag, empty) = match tag.strip_suffix('/') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let name = &tag[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-:_".contains(c))
        {
            return Err(format!("bad element name {name:?}"));
        }
        if stack.is_empty() {
            roots += 1;
        }
        let mut attrs = BTreeMap::new();
        let mut a = tag[name_end..].trim_start();
        while !a.is_empty() {
            let eq = a
                .find('=')
                .ok_or(format!("attribute without value in {tag:?}"))?;
            let key = a[..eq].trim();
            let v = a[eq + 1..].strip_prefix('"').ok_or("unquoted value")?;
            let end = v.find('"').ok_or("unterminated value")?;
            text_ok(&v[..end])?;
            if attrs
                .insert(key.to_string(), v[..end].to_string())
                .is_some()
            {
                return Err(format!("attribute {key} twice"));
            }
            let after = &v[end + 1..];
            if !after.is_empty() && !after.starts_with(char::is_whitespace) {
                return Err(format!("no space after {key}"));
            }
            a = after.trim_start();
        }
        out.push(Element {
            name: name.to_string(),
            attrs,
        });
        if !empty {
            stack.push(name.to_string());
        }
    }
    text_ok(rest)?;
    if !rest.trim().is_empty() {
        return Err("text after the root".into());
    }
    match (stack.is_empty(), roots) {
        (true, 1) => Ok(out),
        (false, _) => Err(format!("unclosed: {stack:?}")),
        _ => Err(format!("{roots} root elements")),
    }
}

/// The y values (pixels, down) and x values of a step path.
pub fn step_path(d: &str) -> (Vec<f64>, Vec<f64>) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for part in d.split_whitespace() {
        let (cmd, num) = part.split_at(1);
        match cmd {
            "M" => {
                let (x, y) = num.split_once(',').unwrap();
                xs.push(x.parse().unwrap());
                ys.push(y.parse().unwrap());
            }
            "H" => xs.push(num.parse().unwrap()),
            "V" => ys.push(num.parse().unwrap()),
            other => panic!("unexpected path command {other}"),
        }
    }
    (xs, ys)
}
