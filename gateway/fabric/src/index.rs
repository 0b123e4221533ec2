//! The subscription index: which subscribers' filters match a topic.
//!
//! Filters without wildcards (and literal filters) live in a hash map keyed by the exact topic; the
//! others live in a trie with one node per level and dedicated slots for `+` and `#`. Nodes that
//! become empty are removed, so the index only holds what is subscribed. The index is plain data:
//! the fabric guards it with a lock that is never held across an `.await`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use smallvec::SmallVec;

use crate::message::Message;
use crate::subscriber::{Delivery, SubInner, SubOptions, SubscriberId};
use crate::topic::{Topic, TopicFilter};

/// One subscription of one subscriber.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) sub: Arc<SubInner>,
    pub(crate) opts: SubOptions,
}

impl Entry {
    /// What this subscription receives for live `message`: the lower QoS, the retain flag
    /// only with `retain_as_published`, and the subscription's tag.
    pub(crate) fn delivery(&self, message: &Arc<Message>) -> Delivery {
        Delivery {
            message: message.clone(),
            qos: message.qos.min(self.opts.max_qos),
            retain: message.retain && self.opts.retain_as_published,
            replayed: false,
            tags: self.opts.tag.into_iter().collect(),
        }
    }
}

/// The subscriptions of one filter (or group). Most filters have one subscriber (a session's
/// own topic): it is kept inline, with no allocation of its own.
type Entries = SmallVec<[Entry; 1]>;

/// A shared-subscription group: each message goes to one member, in turn.
#[derive(Debug)]
struct Group {
    name: Arc<str>,
    members: Entries,
    next: AtomicUsize,
}

impl Group {
    /// The member whose turn it is.
    fn next_member(&self) -> Option<&Entry> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
        self.members.get(i)
    }
}

/// Which subscriptions a visit reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    /// Every subscription; one member of each shared group.
    All,
    /// Only the non-shared subscriptions (a cluster link serves the groups).
    Direct,
    /// Only one member of each shared group.
    Groups,
}

/// The subscriptions attached to one filter.
#[derive(Debug, Default)]
struct Slot {
    entries: Entries,
    groups: Vec<Group>,
}

impl Slot {
    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.groups.is_empty()
    }

    /// Inserts or replaces; returns (the subscription is new, the slot's shape changed: its first
    /// non-shared subscription or a new group).
    fn insert(&mut self, sub: &Arc<SubInner>, opts: SubOptions) -> (bool, bool) {
        let mut shape = false;
        let list = match &opts.group {
            None => {
                shape = self.entries.is_empty();
                &mut self.entries
            }
            Some(name) => {
                let pos = match self.groups.iter().position(|g| g.name == *name) {
                    Some(p) => p,
                    None => {
                        shape = true;
                        self.groups.push(Group {
                            name: name.clone(),
                            members: Entries::new(),
                            next: AtomicUsize::new(0),
                        });
                        self.groups.len() - 1
                    }
                };
                &mut self.groups[pos].members
            }
        };
        match list.iter_mut().find(|e| e.sub.id == sub.id) {
            Some(e) => {
                e.opts = opts;
                (false, shape)
            }
            None => {
                list.push(Entry {
                    sub: sub.clone(),
                    opts,
                });
                (true, shape)
            }
        }
    }

    /// Returns (removed, the slot's shape changed: its last non-shared subscription or a group
    /// went).
    fn remove(&mut self, id: SubscriberId, group: Option<&str>) -> (bool, bool) {
        match group {
            None => {
                let before = self.entries.len();
                self.entries.retain(|e| e.sub.id != id);
                let removed = before != self.entries.len();
                (removed, removed && self.entries.is_empty())
            }
            Some(name) => {
                let Some(pos) = self.groups.iter().position(|g| &*g.name == name) else {
                    return (false, false);
                };
                let members = &mut self.groups[pos].members;
                let before = members.len();
                members.retain(|e| e.sub.id != id);
                let removed = before != members.len();
                let gone = members.is_empty();
                if gone {
                    self.groups.swap_remove(pos);
                }
                (removed, gone)
            }
        }
    }

    fn visit<'a>(&'a self, which: Which, f: &mut impl FnMut(&'a Entry)) {
        if which != Which::Groups {
            for e in &self.entries {
                f(e);
            }
        }
        if which != Which::Direct {
            for g in &self.groups {
                if let Some(e) = g.next_member() {
                    f(e);
                }
            }
        }
    }

    fn for_each<'a>(&'a self, f: &mut impl FnMut(&'a Entry)) {
        for e in &self.entries {
            f(e);
        }
        for g in &self.groups {
            for e in &g.members {
                f(e);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    plus: Option<Box<Node>>,
    /// Filters ending in `#` at this depth.
    hash: Slot,
    /// Filters ending exactly here.
    here: Slot,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.plus.is_none()
            && self.hash.is_empty()
            && self.here.is_empty()
    }
}

/// The subscription index.
#[derive(Debug, Default)]
pub(crate) struct Index {
    exact: HashMap<Arc<str>, Slot>,
    root: Node,
    filters: usize,
}

impl Index {
    /// Number of distinct filters held.
    pub(crate) fn filter_count(&self) -> usize {
        self.filters
    }

    /// Adds or replaces a subscription. Returns (the subscription is new, the filter's interest
    /// changed: it had no subscription before, or no non-shared one, or not this group).
    pub(crate) fn insert(
        &mut self,
        sub: &Arc<SubInner>,
        filter: &TopicFilter,
        opts: SubOptions,
    ) -> (bool, bool) {
        let mut first = false;
        let slot = if filter.is_exact() {
            let key: Arc<str> = Arc::from(filter.as_str());
            let slot = self.exact.entry(key).or_default();
            if slot.is_empty() {
                self.filters += 1;
                first = true;
            }
            slot
        } else {
            let mut node = &mut self.root;
            let mut hash = false;
            for level in filter.levels() {
                match level {
                    "#" => {
                        hash = true;
                        break;
                    }
                    "+" => node = node.plus.get_or_insert_with(Box::default),
                    lit => node = node.children.entry(Box::from(lit)).or_default(),
                }
            }
            let slot = if hash { &mut node.hash } else { &mut node.here };
            if slot.is_empty() {
                self.filters += 1;
                first = true;
            }
            slot
        };
        let (inserted, shape) = slot.insert(sub, opts);
        (inserted, first || shape)
    }

    /// Removes a subscription. Returns (it existed, the filter's interest changed: it has no
    /// subscription left, or no non-shared one, or this group is gone).
    pub(crate) fn remove(
        &mut self,
        id: SubscriberId,
        filter: &TopicFilter,
        group: Option<&str>,
    ) -> (bool, bool) {
        if filter.is_exact() {
            let Some(slot) = self.exact.get_mut(filter.as_str()) else {
                return (false, false);
            };
            let (removed, shape) = slot.remove(id, group);
            if removed && slot.is_empty() {
                self.exact.remove(filter.as_str());
                self.filters -= 1;
            }
            return (removed, shape);
        }
        let levels: SmallVec<[&str; 16]> = filter.levels().collect();
        let (removed, shape, emptied) = remove_in(&mut self.root, &levels, id, group);
        if emptied {
            self.filters -= 1;
        }
        (removed, shape)
    }

    /// The slot holding `filter`'s subscriptions (for an exact filter: the same topic text).
    fn slot(&self, filter: &TopicFilter) -> Option<&Slot> {
        if filter.is_exact() {
            return self.exact.get(filter.as_str());
        }
        let mut node = &self.root;
        for level in filter.levels() {
            match level {
                "#" => return Some(&node.hash),
                "+" => node = node.plus.as_deref()?,
                lit => node = node.children.get(lit)?,
            }
        }
        Some(&node.here)
    }

    /// Whether some subscription uses `filter` (for an exact filter: the same topic text).
    pub(crate) fn contains(&self, filter: &TopicFilter) -> bool {
        self.slot(filter).is_some_and(|s| !s.is_empty())
    }

    /// Whether `filter` has non-shared subscriptions, and the names of its shared groups.
    pub(crate) fn interest(&self, filter: &TopicFilter) -> (bool, Vec<Arc<str>>) {
        match self.slot(filter) {
            Some(s) => (
                !s.entries.is_empty(),
                s.groups.iter().map(|g| g.name.clone()).collect(),
            ),
            None => (false, Vec::new()),
        }
    }

    /// The member of shared group `group` on `filter` whose turn it is.
    pub(crate) fn group_member(&self, filter: &TopicFilter, group: &str) -> Option<&Entry> {
        self.slot(filter)?
            .groups
            .iter()
            .find(|g| &*g.name == group)?
            .next_member()
    }

    /// Every filter with at least one subscription: exact ones as literal filters.
    pub(crate) fn filters(&self) -> Vec<TopicFilter> {
        let mut out = Vec::with_capacity(self.filters);
        for key in self.exact.keys() {
            if let Ok(f) = TopicFilter::literal(&**key) {
                out.push(f);
            }
        }
        let mut names = Vec::new();
        let mut path = Vec::new();
        list(&self.root, &mut path, &mut |text, _| names.push(text));
        names.dedup();
        out.extend(names.into_iter().filter_map(|n| TopicFilter::new(n).ok()));
        out
    }

    /// Calls `f` for each subscription matching `topic`; for shared groups, for one member chosen in
    /// turn.
    pub(crate) fn visit<'a>(&'a self, topic: &Topic, f: impl FnMut(&'a Entry)) {
        self.visit_only(topic, Which::All, f);
    }

    /// Like [`Index::visit`], limited to the non-shared subscriptions or to the shared groups.
    pub(crate) fn visit_only<'a>(
        &'a self,
        topic: &Topic,
        which: Which,
        mut f: impl FnMut(&'a Entry),
    ) {
        if let Some(slot) = self.exact.get(topic.as_str()) {
            slot.visit(which, &mut f);
        }
        if self.root.is_empty() {
            return;
        }
        let levels: SmallVec<[&str; 16]> = topic.levels().collect();
        walk(&self.root, &levels, 0, topic.is_system(), which, &mut f);
    }

    /// Calls `f` with every (filter, entry) pair, for listings.
    pub(crate) fn for_each_subscription(&self, mut f: impl FnMut(String, &Entry)) {
        for (key, slot) in &self.exact {
            slot.for_each(&mut |e| f(key.to_string(), e));
        }
        let mut path = Vec::new();
        list(&self.root, &mut path, &mut f);
    }
}

fn walk<'a>(
    node: &'a Node,
    levels: &[&str],
    depth: usize,
    system: bool,
    which: Which,
    f: &mut impl FnMut(&'a Entry),
) {
    let wildcards_allowed = !(depth == 0 && system);
    if wildcards_allowed {
        node.hash.visit(which, f);
    }
    let Some(level) = levels.get(depth) else {
        node.here.visit(which, f);
        return;
    };
    if let Some(child) = node.children.get(*level) {
        walk(child, levels, depth + 1, system, which, f);
    }
    if wildcards_allowed && let Some(plus) = &node.plus {
        walk(plus, levels, depth + 1, system, which, f);
    }
}

/// Returns (removed, the slot's shape changed, the filter's slot became empty).
fn remove_in(
    node: &mut Node,
    levels: &[&str],
    id: SubscriberId,
    group: Option<&str>,
) -> (bool, bool, bool) {
    let Some((first, rest)) = levels.split_first() else {
        let (removed, shape) = node.here.remove(id, group);
        return (removed, shape, removed && node.here.is_empty());
    };
    match *first {
        "#" => {
            let (removed, shape) = node.hash.remove(id, group);
            (removed, shape, removed && node.hash.is_empty())
        }
        "+" => {
            let Some(child) = node.plus.as_deref_mut() else {
                return (false, false, false);
            };
            let out = remove_in(child, rest, id, group);
            if child.is_empty() {
                node.plus = None;
            }
            out
        }
        lit => {
            let Some(child) = node.children.get_mut(lit) else {
                return (false, false, false);
            };
            let out = remove_in(child, rest, id, group);
            if child.is_empty() {
                node.children.remove(lit);
            }
            out
        }
    }
}

fn list<'a>(node: &'a Node, path: &mut Vec<&'a str>, f: &mut impl FnMut(String, &Entry)) {
    let joined = |path: &[&str], last: Option<&str>| {
        let mut s = path.join("/");
        if let Some(last) = last {
            if !path.is_empty() {
                s.push('/');
            }
            s.push_str(last);
        }
        s
    };
    if !node.here.is_empty() {
        let name = joined(path, None);
        node.here.for_each(&mut |e| f(name.clone(), e));
    }
    if !node.hash.is_empty() {
        let name = joined(path, Some("#"));
        node.hash.for_each(&mut |e| f(name.clone(), e));
    }
    for (level, child) in &node.children {
        path.push(level);
        list(child, path, f);
        path.pop();
    }
    if let Some(plus) = &node.plus {
        path.push("+");
        list(plus, path, f);
        path.pop();
    }
}
