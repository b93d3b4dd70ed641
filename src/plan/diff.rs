//! The diff: manifest + local files + observed objects → actions. Pure: no I/O, no clock.
//!
//! Content is compared by the full-object CRC64NVME (or, for objects without one, the
//! SHA-256 `release` records in metadata), never by size and time alone; a different size
//! is only a shortcut to "different".

use std::collections::{BTreeMap, BTreeSet};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::{Action, ActionKind, LocalFacts, Precondition, RemoteFacts};
use crate::inventory::fingerprint::LocalFile;
use crate::inventory::select::normalise_prefix;
use crate::manifest::types::{DeletePolicy, Manifest, Policy};
use crate::observe::{Observed, RESERVED, Stored};

/// Every action for the manifest's files, sorted by destination and key.
pub fn diff(manifest: &Manifest, files: &[LocalFile], observed: &Observed) -> Vec<Action> {
    let protected = protected_set(&manifest.policy);
    let mut actions = Vec::with_capacity(files.len());
    let mut planned: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();

    // Each local file: create, leave, replace, or stop on policy.
    for file in files {
        let selected = &file.selected;
        planned.entry(&selected.destination).or_default().insert(&selected.key);
        let prefix = prefix_of(manifest, &selected.destination);
        let is_protected = protected.is_match(relative_key(&selected.key, &prefix));
        let stored = observed.get(&selected.destination, &selected.key);
        actions.push(file_action(file, stored, &manifest.policy, is_protected));
    }

    // Objects under the prefixes that no local file claims: pruned, or left alone.
    if manifest.policy.delete == DeletePolicy::Prune {
        for (destination, objects) in &observed.destinations {
            let keys = planned.get(destination.as_str());
            let prefix = prefix_of(manifest, destination);
            let extra: Vec<(&String, &Stored)> = objects
                .iter()
                .filter(|(key, _)| keys.is_none_or(|k| !k.contains(key.as_str())))
                .filter(|(key, _)| !relative_key(key, &prefix).starts_with(RESERVED))
                .collect();
            actions.extend(deletions(destination, &extra, &manifest.policy, &protected, &prefix));
        }
    }

    // Keys are unique within a destination, so an unstable sort gives the one order, without
    // the copy of the whole list that a stable sort would make.
    actions.sort_unstable_by(|a, b| (&a.destination, &a.key).cmp(&(&b.destination, &b.key)));
    actions
}

fn file_action(
    file: &LocalFile,
    stored: Option<&Stored>,
    policy: &Policy,
    is_protected: bool,
) -> Action {
    let local = local_facts(file);
    let selected = &file.selected;
    let mut action = Action {
        kind: ActionKind::Create,
        destination: selected.destination.clone(),
        key: selected.key.clone(),
        reason: "not in the bucket".to_owned(),
        precondition: Precondition::Absent,
        local: None,
        remote: None,
    };
    let Some(stored) = stored else {
        action.local = Some(local);
        return action;
    };
    action.remote = Some(remote_facts(stored));
    let difference = compare(&local, stored);
    action.local = Some(local);
    let Some(difference) = difference else {
        action.kind = ActionKind::Unchanged;
        action.reason = "checksum matches".to_owned();
        action.precondition = Precondition::None;
        return action;
    };
    if is_protected {
        action.kind = ActionKind::Blocked;
        action.reason = format!("{difference}; the key is protected by `policy.protected`");
        action.precondition = Precondition::None;
    } else if !policy.replace {
        action.kind = ActionKind::Conflict;
        action.reason = format!("{difference}; `policy.replace` is false");
        action.precondition = Precondition::None;
    } else {
        action.kind = ActionKind::Replace;
        action.reason = difference;
        action.precondition = Precondition::Etag { etag: stored.etag.clone() };
    }
    action
}

/// Why the stored object differs from the local file, or `None` when it has its content.
fn compare(local: &LocalFacts, stored: &Stored) -> Option<String> {
    if stored.size != local.size {
        return Some(format!(
            "size differs: stored {} bytes, local {} bytes",
            stored.size, local.size
        ));
    }
    if let Some(crc) = &stored.crc64nvme {
        return (crc != &local.crc64nvme).then(|| {
            format!("content differs: CRC64NVME stored {crc}, local {}", local.crc64nvme)
        });
    }
    if let Some(sha) = &stored.sha256 {
        return (sha != &local.sha256).then(|| "content differs: SHA-256 differs".to_owned());
    }
    Some("the stored object has no checksum to compare with".to_owned())
}

fn deletions(
    destination: &str,
    extra: &[(&String, &Stored)],
    policy: &Policy,
    protected: &GlobSet,
    prefix: &str,
) -> Vec<Action> {
    let over_limit = extra.len() > policy.max_delete as usize;
    extra
        .iter()
        .map(|(key, stored)| {
            let mut action = Action {
                kind: ActionKind::Delete,
                destination: destination.to_owned(),
                key: (*key).clone(),
                reason: "not in the manifest (`policy.delete: prune`)".to_owned(),
                precondition: Precondition::Etag { etag: stored.etag.clone() },
                local: None,
                remote: Some(remote_facts(stored)),
            };
            if protected.is_match(relative_key(key, prefix)) {
                action.kind = ActionKind::Blocked;
                action.reason = "not in the manifest, but protected by `policy.protected`".into();
                action.precondition = Precondition::None;
            } else if over_limit {
                action.kind = ActionKind::Blocked;
                action.reason = format!(
                    "would delete {} objects under `{destination}`; `policy.max_delete` is {}",
                    extra.len(),
                    policy.max_delete
                );
                action.precondition = Precondition::None;
            }
            action
        })
        .collect()
}

fn local_facts(file: &LocalFile) -> LocalFacts {
    LocalFacts {
        path: file.selected.relative.clone(),
        size: file.stamp.size,
        mtime_ns: i64::try_from(file.stamp.mtime_ns).unwrap_or(i64::MAX),
        crc64nvme: file.digests.crc64nvme_base64(),
        sha256: file.digests.sha256_hex(),
    }
}

fn remote_facts(stored: &Stored) -> RemoteFacts {
    RemoteFacts {
        size: stored.size,
        etag: stored.etag.clone(),
        crc64nvme: stored.crc64nvme.clone(),
        sha256: stored.sha256.clone(),
    }
}

fn prefix_of(manifest: &Manifest, destination: &str) -> String {
    manifest.destinations.get(destination).map(|d| normalise_prefix(&d.prefix)).unwrap_or_default()
}

fn relative_key<'a>(key: &'a str, prefix: &str) -> &'a str {
    key.strip_prefix(prefix).unwrap_or(key)
}

/// Protected globs; validation has already refused invalid ones, so any left are skipped.
fn protected_set(policy: &Policy) -> GlobSet {
    let mut builder = GlobSetBuilder::new();
    for pattern in &policy.protected {
        if let Ok(glob) = Glob::new(pattern) {
            builder.add(glob);
        }
    }
    builder.build().unwrap_or_else(|_| GlobSet::empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::cache::Stamp;
    use crate::inventory::digest::Digests;
    use crate::inventory::select::Selected;

    const MANIFEST: &str = "
release: r1
aws: { region: eu-west-2, account_id: '123456789012' }
destinations:
  tre: { bucket: tre-bucket, prefix: data }
files:
  - { source: x, destination: tre }
";

    fn manifest(policy: &str) -> Manifest {
        serde_saphyr::from_str(&format!("{MANIFEST}{policy}")).unwrap()
    }

    fn file(key: &str, content: &[u8]) -> LocalFile {
        LocalFile {
            selected: Selected {
                set: 0,
                path: key.into(),
                relative: format!("x/{key}"),
                destination: "tre".into(),
                key: format!("data/{key}"),
            },
            stamp: Stamp { size: content.len() as u64, mtime_ns: 1, ctime_ns: 1, inode: 1 },
            digests: Digests::of(content),
        }
    }

    fn stored(content: &[u8], etag: &str) -> Stored {
        Stored {
            size: content.len() as u64,
            etag: etag.into(),
            crc64nvme: Some(Digests::of(content).crc64nvme_base64()),
            sha256: None,
        }
    }

    fn observed(objects: &[(&str, Stored)]) -> Observed {
        let mut observed = Observed::default();
        let map = objects.iter().map(|(k, s)| (format!("data/{k}"), s.clone())).collect();
        observed.destinations.insert("tre".into(), map);
        observed
    }

    fn kinds(actions: &[Action]) -> Vec<(ActionKind, &str)> {
        actions.iter().map(|a| (a.kind, a.key.as_str())).collect()
    }

    #[test]
    fn absent_objects_are_created_with_an_absent_precondition() {
        let actions = diff(&manifest(""), &[file("a.csv", b"a")], &Observed::default());
        assert_eq!(kinds(&actions), [(ActionKind::Create, "data/a.csv")]);
        assert_eq!(actions[0].precondition, Precondition::Absent);
        assert_eq!(actions[0].local.as_ref().unwrap().size, 1);
    }

    #[test]
    fn matching_checksums_are_unchanged() {
        let seen = observed(&[("a.csv", stored(b"abc", "\"e1\""))]);
        let actions = diff(&manifest(""), &[file("a.csv", b"abc")], &seen);
        assert_eq!(kinds(&actions), [(ActionKind::Unchanged, "data/a.csv")]);
        assert_eq!(actions[0].precondition, Precondition::None);
    }

    #[test]
    fn same_size_different_content_is_replaced_on_its_etag() {
        let seen = observed(&[("a.csv", stored(b"abc", "\"e1\""))]);
        let actions = diff(&manifest(""), &[file("a.csv", b"abd")], &seen);
        assert_eq!(kinds(&actions), [(ActionKind::Replace, "data/a.csv")]);
        assert_eq!(actions[0].precondition, Precondition::Etag { etag: "\"e1\"".into() });
        assert!(
            actions[0].reason.starts_with("content differs: CRC64NVME"),
            "{}",
            actions[0].reason
        );
    }

    #[test]
    fn different_size_is_replaced_without_a_checksum() {
        let mut old = stored(b"abcd", "e1");
        old.crc64nvme = None;
        let actions = diff(&manifest(""), &[file("a.csv", b"abc")], &observed(&[("a.csv", old)]));
        assert_eq!(actions[0].kind, ActionKind::Replace);
        assert_eq!(actions[0].reason, "size differs: stored 4 bytes, local 3 bytes");
    }

    #[test]
    fn metadata_sha256_is_used_when_no_crc_is_stored() {
        let mut old = stored(b"abc", "e1");
        old.crc64nvme = None;
        old.sha256 = Some(Digests::of(b"abc").sha256_hex());
        let actions = diff(&manifest(""), &[file("a.csv", b"abc")], &observed(&[("a.csv", old)]));
        assert_eq!(actions[0].kind, ActionKind::Unchanged);
    }

    #[test]
    fn no_checksum_at_all_means_replace() {
        let mut old = stored(b"abc", "e1");
        old.crc64nvme = None;
        let actions = diff(&manifest(""), &[file("a.csv", b"abc")], &observed(&[("a.csv", old)]));
        assert_eq!(actions[0].kind, ActionKind::Replace);
        assert!(actions[0].reason.contains("no checksum"));
    }

    #[test]
    fn replacing_forbidden_by_policy_is_a_conflict() {
        let seen = observed(&[("a.csv", stored(b"abc", "e1"))]);
        let actions =
            diff(&manifest("policy: { replace: false }"), &[file("a.csv", b"xyz")], &seen);
        assert_eq!(actions[0].kind, ActionKind::Conflict);
        assert!(actions[0].reason.ends_with("`policy.replace` is false"));
        assert_eq!(actions[0].precondition, Precondition::None);
    }

    #[test]
    fn protected_keys_are_blocked_not_replaced() {
        let seen = observed(&[("docs/a.md", stored(b"abc", "e1"))]);
        let policy = "policy: { protected: ['docs/*'] }";
        let actions = diff(&manifest(policy), &[file("docs/a.md", b"xyz")], &seen);
        assert_eq!(actions[0].kind, ActionKind::Blocked);
    }

    #[test]
    fn foreign_objects_are_left_alone_by_default() {
        let seen = observed(&[("old.csv", stored(b"o", "e9"))]);
        let actions = diff(&manifest(""), &[file("a.csv", b"a")], &seen);
        assert_eq!(kinds(&actions), [(ActionKind::Create, "data/a.csv")]);
    }

    #[test]
    fn prune_deletes_foreign_objects_on_their_etag_but_not_reserved_ones() {
        let seen = observed(&[
            ("old.csv", stored(b"o", "e9")),
            (".release/r1/receipt.json", stored(b"r", "e8")),
        ]);
        let actions = diff(&manifest("policy: { delete: prune }"), &[file("a.csv", b"a")], &seen);
        let expected = [(ActionKind::Create, "data/a.csv"), (ActionKind::Delete, "data/old.csv")];
        assert_eq!(kinds(&actions), expected);
        assert_eq!(actions[1].precondition, Precondition::Etag { etag: "e9".into() });
    }

    #[test]
    fn deletes_past_the_limit_are_all_blocked() {
        let seen = observed(&[("o1", stored(b"1", "e1")), ("o2", stored(b"2", "e2"))]);
        let policy = "policy: { delete: prune, max_delete: 1 }";
        let actions = diff(&manifest(policy), &[], &seen);
        assert_eq!(
            kinds(&actions),
            [(ActionKind::Blocked, "data/o1"), (ActionKind::Blocked, "data/o2")]
        );
        assert!(actions[0].reason.contains("would delete 2 objects"));
    }

    #[test]
    fn protected_objects_are_not_pruned() {
        let seen = observed(&[("keep/o1", stored(b"1", "e1"))]);
        let policy = "policy: { delete: prune, protected: ['keep/**'] }";
        let actions = diff(&manifest(policy), &[], &seen);
        assert_eq!(kinds(&actions), [(ActionKind::Blocked, "data/keep/o1")]);
    }

    #[test]
    fn actions_are_sorted_by_destination_and_key() {
        let files = [file("b.csv", b"b"), file("a.csv", b"a")];
        let actions = diff(&manifest(""), &files, &Observed::default());
        assert_eq!(
            kinds(&actions),
            [(ActionKind::Create, "data/a.csv"), (ActionKind::Create, "data/b.csv")]
        );
    }
}
