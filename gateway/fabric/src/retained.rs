//! The retained store: the last retained message of each topic.
//!
//! Stored as a trie of topic levels so that a subscription replays only the part of the store its
//! filter can match: an exact filter is one lookup, `a/+/c` walks one branch. Empty paths are pruned
//! when values are deleted. The store is bounded by a count and a byte budget.

use std::collections::HashMap;
use std::sync::Arc;

use crate::message::Message;
use crate::topic::{Topic, TopicFilter};

#[derive(Debug, Default)]
struct Node {
    children: Children,
    value: Option<Arc<Message>>,
}

/// Children with more entries than this are kept in a hash map, fewer in a vector (most levels of
/// a large topic tree have one or a few children: a map costs several times their size).
const SMALL: usize = 8;

/// The children of a node: a vector sized to its entries while small, then a hash map.
#[derive(Debug)]
enum Children {
    Small(Vec<(Box<str>, Node)>),
    // Boxed on purpose: keeps every node (most have a small vector) at 32 bytes instead of 56.
    #[allow(clippy::box_collection)]
    Map(Box<HashMap<Box<str>, Node>>),
}

impl Default for Children {
    fn default() -> Self {
        Children::Small(Vec::new())
    }
}

impl Children {
    fn is_empty(&self) -> bool {
        match self {
            Children::Small(v) => v.is_empty(),
            Children::Map(m) => m.is_empty(),
        }
    }

    fn get(&self, level: &str) -> Option<&Node> {
        match self {
            Children::Small(v) => v.iter().find(|(k, _)| &**k == level).map(|(_, n)| n),
            Children::Map(m) => m.get(level),
        }
    }

    fn get_mut(&mut self, level: &str) -> Option<&mut Node> {
        match self {
            Children::Small(v) => v.iter_mut().find(|(k, _)| &**k == level).map(|(_, n)| n),
            Children::Map(m) => m.get_mut(level),
        }
    }

    /// The child named `level`, created when missing.
    fn get_or_insert(&mut self, level: &str) -> &mut Node {
        if let Children::Small(v) = self
            && v.len() >= SMALL
            && !v.iter().any(|(k, _)| &**k == level)
        {
            let map: HashMap<Box<str>, Node> = std::mem::take(v).into_iter().collect();
            *self = Children::Map(Box::new(map));
        }
        match self {
            Children::Small(v) => {
                let i = match v.iter().position(|(k, _)| &**k == level) {
                    Some(i) => i,
                    None => {
                        v.reserve_exact(1);
                        v.push((Box::from(level), Node::default()));
                        v.len() - 1
                    }
                };
                &mut v[i].1
            }
            Children::Map(m) => m.entry(Box::from(level)).or_default(),
        }
    }

    fn remove(&mut self, level: &str) {
        match self {
            Children::Small(v) => {
                if let Some(i) = v.iter().position(|(k, _)| &**k == level) {
                    v.swap_remove(i);
                    v.shrink_to_fit();
                }
            }
            Children::Map(m) => {
                m.remove(level);
            }
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = (&str, &Node)> + '_> {
        match self {
            Children::Small(v) => Box::new(v.iter().map(|(k, n)| (&**k, n))),
            Children::Map(m) => Box::new(m.iter().map(|(k, n)| (&**k, n))),
        }
    }
}

impl Node {
    fn is_empty(&self) -> bool {
        self.value.is_none() && self.children.is_empty()
    }
}

/// What storing a retained message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetainedChange {
    /// A value was stored (new or replacing).
    Stored,
    /// The stored value was deleted (empty payload).
    Deleted,
    /// Nothing changed (an empty payload for a topic without a value).
    Unchanged,
    /// The store is full: the value was not kept.
    Full,
}

/// Retained messages by topic.
#[derive(Debug)]
pub(crate) struct RetainedStore {
    root: Node,
    count: usize,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

fn cost(msg: &Message) -> usize {
    msg.topic.as_str().len() + msg.payload.len()
}

impl RetainedStore {
    pub(crate) fn new(max_count: usize, max_bytes: usize) -> Self {
        RetainedStore {
            root: Node::default(),
            count: 0,
            bytes: 0,
            max_count,
            max_bytes,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Stores `msg` as its topic's retained value, or deletes the value when the payload is empty.
    pub(crate) fn set(&mut self, msg: &Arc<Message>) -> RetainedChange {
        if msg.payload.is_empty() {
            return match self.remove(&msg.topic) {
                Some(_) => RetainedChange::Deleted,
                None => RetainedChange::Unchanged,
            };
        }
        let new_cost = cost(msg);
        // Check the budget before creating nodes; replacing a value frees its old cost.
        let old = self.get(&msg.topic);
        let old_cost = old.as_deref().map_or(0, cost);
        if (old.is_none() && self.count >= self.max_count)
            || self.bytes - old_cost + new_cost > self.max_bytes
        {
            return RetainedChange::Full;
        }
        let mut node = &mut self.root;
        for level in msg.topic.levels() {
            node = node.children.get_or_insert(level);
        }
        if let Some(old) = node.value.replace(msg.clone()) {
            self.bytes -= cost(&old);
        } else {
            self.count += 1;
        }
        self.bytes += new_cost;
        RetainedChange::Stored
    }

    /// The retained value of `topic`.
    pub(crate) fn get(&self, topic: &Topic) -> Option<Arc<Message>> {
        let mut node = &self.root;
        for level in topic.levels() {
            node = node.children.get(level)?;
        }
        node.value.clone()
    }

    /// Removes the retained value of `topic`.
    pub(crate) fn remove(&mut self, topic: &Topic) -> Option<Arc<Message>> {
        let levels: Vec<&str> = topic.levels().collect();
        let removed = remove_in(&mut self.root, &levels)?;
        self.count -= 1;
        self.bytes -= cost(&removed);
        Some(removed)
    }

    /// Appends every retained message matching `filter` to `out`.
    pub(crate) fn collect(&self, filter: &TopicFilter, out: &mut Vec<Arc<Message>>) {
        if filter.is_exact() {
            let mut node = &self.root;
            for level in filter.levels() {
                match node.children.get(level) {
                    Some(n) => node = n,
                    None => return,
                }
            }
            out.extend(node.value.clone());
            return;
        }
        let levels: Vec<&str> = filter.levels().collect();
        collect_in(&self.root, &levels, 0, out);
    }
}

fn remove_in(node: &mut Node, levels: &[&str]) -> Option<Arc<Message>> {
    match levels.split_first() {
        None => node.value.take(),
        Some((first, rest)) => {
            let child = node.children.get_mut(first)?;
            let removed = remove_in(child, rest);
            if child.is_empty() {
                node.children.remove(first);
            }
            removed
        }
    }
}

fn collect_in(node: &Node, levels: &[&str], depth: usize, out: &mut Vec<Arc<Message>>) {
    let Some(level) = levels.get(depth) else {
        out.extend(node.value.clone());
        return;
    };
    match *level {
        "#" => collect_all(node, depth == 0, out),
        "+" => {
            for (name, child) in node.children.iter() {
                if depth == 0 && name.starts_with('$') {
                    continue;
                }
                collect_in(child, levels, depth + 1, out);
            }
        }
        lit => {
            if let Some(child) = node.children.get(lit) {
                collect_in(child, levels, depth + 1, out);
            }
        }
    }
}

/// Everything at and below `node` (a `#` matches its parent level too).
fn collect_all(node: &Node, at_root: bool, out: &mut Vec<Arc<Message>>) {
    if !at_root {
        out.extend(node.value.clone());
    }
    let mut stack: Vec<&Node> = Vec::new();
    for (name, child) in node.children.iter() {
        if at_root && name.starts_with('$') {
            continue;
        }
        stack.push(child);
    }
    while let Some(n) = stack.pop() {
        out.extend(n.value.clone());
        stack.extend(n.children.iter().map(|(_, c)| c));
    }
}
