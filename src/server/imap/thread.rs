//! THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 sections 2.2 and 3), over plain
//! message facts, and the `(1 2 (3)(4))` wire form. Sans I/O.

use std::collections::HashMap;

use super::sort::{base_subject, is_reply_or_forward as is_reply};

/// Thread trees deeper than this are flattened below it (stack safety, not semantics).
const MAX_DEPTH: usize = 200;

/// What threading needs of one message.
#[derive(Debug, Clone)]
pub struct Item {
    /// Sequence number or UID, as the client asked.
    pub id: u32,
    /// Sequence number, for ties.
    pub seq: u32,
    /// Sent date (Date header, else internal date) as a timestamp.
    pub date: i64,
    pub subject: String,
    pub message_id: Option<String>,
    /// References, else In-Reply-To: message IDs, oldest first.
    pub references: Vec<String>,
}

/// A thread tree node; `item: None` is a dummy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub item: Option<u32>,
    pub children: Vec<Tree>,
}

/// The `<...>` message IDs in a header value, comments skipped.
pub fn message_ids(value: &str) -> Vec<String> {
    let text = super::mime::strip_comments(value);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let id: String = rest[start + 1..start + len]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if !id.is_empty() {
            out.push(id);
        }
        rest = &rest[start + len + 1..];
    }
    out
}

fn by_date(items: &[Item]) -> impl Fn(&u32, &u32) -> std::cmp::Ordering + '_ {
    move |a, b| {
        let (x, y) = (&items[*a as usize], &items[*b as usize]);
        x.date.cmp(&y.date).then(x.seq.cmp(&y.seq))
    }
}

/// THREAD=ORDEREDSUBJECT: messages grouped by base subject, each group's first (by sent
/// date) the parent of the rest; threads ordered by their first message's date.
pub fn ordered_subject(items: &[Item]) -> Vec<Tree> {
    let mut idx: Vec<u32> = (0..items.len() as u32).collect();
    let subjects: Vec<String> = items
        .iter()
        .map(|i| base_subject(&i.subject).to_uppercase())
        .collect();
    idx.sort_by(|a, b| {
        subjects[*a as usize]
            .cmp(&subjects[*b as usize])
            .then_with(|| by_date(items)(a, b))
    });
    let mut threads: Vec<(u32, Tree)> = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let head = idx[i];
        let mut j = i + 1;
        let mut children = Vec::new();
        while j < idx.len() && subjects[idx[j] as usize] == subjects[head as usize] {
            children.push(Tree {
                item: Some(items[idx[j] as usize].id),
                children: Vec::new(),
            });
            j += 1;
        }
        threads.push((
            head,
            Tree {
                item: Some(items[head as usize].id),
                children,
            },
        ));
        i = j;
    }
    threads.sort_by(|a, b| by_date(items)(&a.0, &b.0));
    threads.into_iter().map(|(_, t)| t).collect()
}

/// The container table of RFC 5256 3 (JWZ threading).
struct Containers {
    /// Message index, or None for a dummy.
    item: Vec<Option<u32>>,
    parent: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
}

impl Containers {
    fn add(&mut self, item: Option<u32>) -> usize {
        self.item.push(item);
        self.parent.push(None);
        self.children.push(Vec::new());
        self.item.len() - 1
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let mut cur = Some(b);
        let mut steps = 0;
        while let Some(c) = cur {
            if c == a {
                return true;
            }
            steps += 1;
            if steps > self.item.len() {
                return true;
            }
            cur = self.parent[c];
        }
        false
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.parent[child].take() {
            self.children[p].retain(|&c| c != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.unlink(child);
        self.parent[child] = Some(parent);
        self.children[parent].push(child);
    }
}

/// THREAD=REFERENCES (RFC 5256 3).
pub fn references(items: &[Item]) -> Vec<Tree> {
    let mut c = Containers {
        item: Vec::new(),
        parent: Vec::new(),
        children: Vec::new(),
    };
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut order: Vec<u32> = (0..items.len() as u32).collect();
    order.sort_by_key(|&i| items[i as usize].seq);
    for &i in &order {
        let it = &items[i as usize];
        // (1) this message's container; duplicate or missing IDs get a unique one.
        let me = match it.message_id.as_ref().and_then(|id| by_id.get(id).copied()) {
            Some(existing) if c.item[existing].is_none() => {
                c.item[existing] = Some(i);
                existing
            }
            _ => {
                let n = c.add(Some(i));
                if let Some(id) = &it.message_id
                    && !by_id.contains_key(id)
                {
                    by_id.insert(id.clone(), n);
                }
                n
            }
        };
        // (A) link the references in order, never changing an existing parent or making loops.
        let mut prev: Option<usize> = None;
        for r in &it.references {
            let cur = match by_id.get(r) {
                Some(&x) => x,
                None => {
                    let x = c.add(None);
                    by_id.insert(r.clone(), x);
                    x
                }
            };
            if let Some(p) = prev
                && c.parent[cur].is_none()
                && !c.is_ancestor(cur, p)
            {
                c.link(p, cur);
            }
            prev = Some(cur);
        }
        // (B) the last reference is the parent; an existing link is replaced.
        c.unlink(me);
        if let Some(p) = prev
            && p != me
            && !c.is_ancestor(me, p)
        {
            c.link(p, me);
        }
    }
    // (2) the root set.
    let roots: Vec<usize> = (0..c.item.len())
        .filter(|&n| c.parent[n].is_none())
        .collect();
    // (3) prune dummies.
    fn prune(c: &Containers, n: usize, top: bool, depth: usize) -> Vec<Tree> {
        let mut kids: Vec<Tree> = Vec::new();
        if depth >= MAX_DEPTH {
            // A reply chain this deep is flattened below this level, so the recursive
            // steps that follow stay within the stack.
            let mut stack: Vec<usize> = c.children[n].iter().rev().copied().collect();
            while let Some(k) = stack.pop() {
                if let Some(i) = c.item[k] {
                    kids.push(Tree {
                        item: Some(i),
                        children: Vec::new(),
                    });
                }
                stack.extend(c.children[k].iter().rev());
            }
        } else {
            for &k in &c.children[n] {
                kids.extend(prune(c, k, false, depth + 1));
            }
        }
        match c.item[n] {
            Some(i) => vec![Tree {
                item: Some(i),
                children: kids,
            }],
            None if kids.is_empty() => Vec::new(),
            None if !top || kids.len() == 1 => kids,
            None => vec![Tree {
                item: None,
                children: kids,
            }],
        }
    }
    let mut top: Vec<Tree> = roots.iter().flat_map(|&r| prune(&c, r, true, 0)).collect();
    // Trees carry message indexes until the end; sort helpers read items by index.
    let first_date = |t: &Tree| -> (i64, u32) {
        let i = match t.item {
            Some(i) => i,
            None => t.children.first().and_then(|k| k.item).unwrap_or(0),
        };
        let it = &items[i as usize];
        (it.date, it.seq)
    };
    // (4) sort the top level (dummies by their first child, after sorting those).
    for t in top.iter_mut() {
        if t.item.is_none() {
            t.children.sort_by_key(|k| first_date(k));
        }
    }
    top.sort_by_key(|t| first_date(t));
    // (5) merge threads with the same base subject.
    let subject_of = |t: &Tree| -> (String, bool) {
        let i = match t.item {
            Some(i) => Some(i),
            None => t.children.first().and_then(|k| k.item),
        };
        match i {
            Some(i) => {
                let s = &items[i as usize].subject;
                (base_subject(s).to_uppercase(), is_reply(s))
            }
            None => (String::new(), false),
        }
    };
    let mut table: HashMap<String, usize> = HashMap::new();
    for (n, t) in top.iter().enumerate() {
        let (subject, _) = subject_of(t);
        if subject.is_empty() {
            continue;
        }
        match table.get(&subject) {
            None => {
                table.insert(subject, n);
            }
            Some(&old) => {
                let old_t = &top[old];
                let replace = old_t.item.is_some()
                    && (t.item.is_none() || (subject_of(old_t).1 && !subject_of(t).1));
                if replace {
                    table.insert(subject, n);
                }
            }
        }
    }
    let mut merged: Vec<Option<Tree>> = top.into_iter().map(Some).collect();
    for n in 0..merged.len() {
        let Some(t) = merged[n].as_ref() else {
            continue;
        };
        let (subject, reply) = subject_of(t);
        if subject.is_empty() {
            continue;
        }
        let Some(&target) = table.get(&subject) else {
            continue;
        };
        if target == n {
            continue;
        }
        let Some(cur) = merged[n].take() else {
            continue;
        };
        let Some(dest) = merged[target].as_mut() else {
            merged[n] = Some(cur);
            continue;
        };
        let dest_reply = subject_of(dest).1;
        if dest.item.is_none() && cur.item.is_none() {
            dest.children.extend(cur.children);
        } else if dest.item.is_none() || (reply && !dest_reply) {
            dest.children.push(cur);
        } else {
            let old = std::mem::replace(
                dest,
                Tree {
                    item: None,
                    children: Vec::new(),
                },
            );
            dest.children.push(old);
            dest.children.push(cur);
        }
    }
    let mut top: Vec<Tree> = merged.into_iter().flatten().collect();
    // (6) sort siblings by date, deepest first; the top level once more at the end.
    fn sort_tree(t: &mut Tree, key: &dyn Fn(&Tree) -> (i64, u32)) {
        for k in t.children.iter_mut() {
            sort_tree(k, key);
        }
        t.children.sort_by_key(|k| key(k));
    }
    for t in top.iter_mut() {
        sort_tree(t, &first_date);
    }
    top.sort_by_key(|t| first_date(t));
    // Indexes → the ids the client asked for.
    fn ids(t: Tree, items: &[Item]) -> Tree {
        Tree {
            item: t.item.map(|i| items[i as usize].id),
            children: t.children.into_iter().map(|k| ids(k, items)).collect(),
        }
    }
    top.into_iter().map(|t| ids(t, items)).collect()
}

/// The THREAD response's data: `(1 2 (3)(4))(5)`.
pub fn render(threads: &[Tree]) -> String {
    fn chain(t: &Tree, out: &mut String) {
        let mut wrote = false;
        if let Some(id) = t.item {
            out.push_str(&id.to_string());
            wrote = true;
        }
        match t.children.len() {
            0 => {}
            1 if wrote => {
                out.push(' ');
                chain(&t.children[0], out);
            }
            _ => {
                if wrote {
                    out.push(' ');
                }
                for k in &t.children {
                    out.push('(');
                    chain(k, out);
                    out.push(')');
                }
            }
        }
    }
    let mut out = String::new();
    for t in threads {
        out.push('(');
        chain(t, &mut out);
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: u32, subject: &str, id: &str, refs: &[&str]) -> Item {
        Item {
            id: seq,
            seq,
            date: seq as i64,
            subject: subject.into(),
            message_id: (!id.is_empty()).then(|| id.to_string()),
            references: refs.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn references_links_replies_and_merges_subjects() {
        let items = [
            item(1, "a", "1@x", &[]),
            item(2, "Re: a", "2@x", &["1@x"]),
            item(3, "Re: a", "3@x", &["1@x"]),
            item(4, "Re: a", "4@x", &["1@x", "2@x"]),
            item(5, "other", "5@x", &[]),
        ];
        assert_eq!(render(&references(&items)), "(1 (2 4)(3))(5)");
        // Siblings under a missing parent stay under a dummy.
        let items = [item(1, "x", "1@x", &["0@x"]), item(2, "y", "2@x", &["0@x"])];
        assert_eq!(render(&references(&items)), "((1)(2))");
        // Same base subject without references: merged under a dummy.
        let items = [item(1, "s", "1@x", &[]), item(2, "s", "2@x", &[])];
        assert_eq!(render(&references(&items)), "((1)(2))");
    }

    #[test]
    fn a_very_long_reply_chain_does_not_overflow_the_stack() {
        let items: Vec<Item> = (1..=10_000u32)
            .map(|n| {
                let refs = if n > 1 {
                    vec![format!("{}@x", n - 1)]
                } else {
                    vec![]
                };
                Item {
                    id: n,
                    seq: n,
                    date: n as i64,
                    subject: "s".into(),
                    message_id: Some(format!("{n}@x")),
                    references: refs,
                }
            })
            .collect();
        let out = render(&references(&items));
        assert!(out.starts_with("(1 2 3 "), "{}", &out[..20]);
        let ids: Vec<u32> = out
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("number"))
            .collect();
        assert_eq!(ids, (1..=10_000).collect::<Vec<u32>>());
    }

    #[test]
    fn ordered_subject_groups_by_base_subject() {
        let items = [
            item(1, "b", "", &[]),
            item(2, "a", "", &[]),
            item(3, "Re: b", "", &[]),
            item(4, "re: a", "", &[]),
            item(5, "RE: a", "", &[]),
        ];
        assert_eq!(render(&ordered_subject(&items)), "(1 3)(2 (4)(5))");
        assert_eq!(message_ids("<a@b> (c) <c@d>"), vec!["a@b", "c@d"]);
    }
}
