//! Stored objects as the hub records them (whatever backend holds their bytes), who may
//! read or write them, and what decides it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

crate::text_enum! {
    /// Whether anyone may read an object.
    pub enum Visibility {
        /// Only its owner, its grantees and API keys with the `storage` scope.
        Private = "private",
        /// Anyone, without a key, at `/public/{store}/{key}`.
        Public = "public",
    }
}

crate::text_enum! {
    /// What a grant allows; `write` implies `read`.
    pub enum Permission {
        Read = "read",
        Write = "write",
    }
}

impl Permission {
    /// Whether holding `self` allows `wanted`.
    pub fn covers(self, wanted: Permission) -> bool {
        self == Permission::Write || wanted == Permission::Read
    }
}

/// A permission given to a user id or to `group:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// A user id of the application, or `group:NAME`.
    pub principal: String,
    pub permission: Permission,
}

/// An object the hub stored or accepted: its bytes are in the backend, everything else
/// here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub store: String,
    pub key: String,
    pub size: i64,
    pub content_type: String,
    /// Quoted, as in an `ETag` header.
    pub etag: String,
    /// Hex SHA-256 of the bytes.
    pub sha256: Option<String>,
    /// `None`: as the access rules of its prefixes and the store's default say.
    pub visibility: Option<Visibility>,
    pub owner: Option<String>,
    pub grants: Vec<Grant>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Access settings of every key under a prefix of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixRule {
    pub store: String,
    pub prefix: String,
    pub owner: Option<String>,
    pub visibility: Option<Visibility>,
    pub grants: Vec<Grant>,
    pub updated_at: i64,
}

crate::text_enum! {
    /// Where a direct upload stands.
    pub enum UploadState {
        /// Its URL was handed out; the bytes may or may not be there yet.
        Pending = "pending",
        /// Checked and recorded as an object.
        Complete = "complete",
    }
}

/// A direct upload: the browser puts the bytes straight into the backend with the URL
/// the hub signed, then the application asks the hub to check and record them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    pub store: String,
    pub key: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: Option<String>,
    pub owner: Option<String>,
    pub visibility: Option<Visibility>,
    /// The backend's multipart upload id, when the bytes go up in parts.
    pub multipart_id: Option<String>,
    pub parts: i64,
    pub state: UploadState,
    pub expires_at: i64,
    pub created_at: i64,
}

/// Why access is allowed or refused, in the words `/access/check` answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Public,
    PublicPrefix,
    Owner,
    Granted,
    GrantedToGroup,
    NotGranted,
    NoSuchObject,
}

impl Decision {
    pub fn allowed(self) -> bool {
        !matches!(self, Decision::NotGranted | Decision::NoSuchObject)
    }

    pub fn reason(self) -> &'static str {
        match self {
            Decision::Public => "public",
            Decision::PublicPrefix => "public_prefix",
            Decision::Owner => "owner",
            Decision::Granted => "granted",
            Decision::GrantedToGroup => "granted_to_group",
            Decision::NotGranted => "not_granted",
            Decision::NoSuchObject => "no_such_object",
        }
    }
}

/// What decides access to one key: the object's own settings over those of the longest
/// matching prefix rule (grants add up), then the store's public prefixes and default.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub default_visibility: Visibility,
    pub public_prefixes: &'a [String],
}

/// Whether `principal` (with `groups`) may `wanted` the object at `key`.
pub fn decide(
    policy: Policy<'_>,
    key: &str,
    object: Option<&StoredObject>,
    rules: &[PrefixRule],
    principal: Option<&str>,
    groups: &[String],
    wanted: Permission,
) -> Decision {
    let Some(object) = object else {
        return Decision::NoSuchObject;
    };
    let mut rules: Vec<&PrefixRule> = rules
        .iter()
        .filter(|r| key.starts_with(&r.prefix))
        .collect();
    rules.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    let owner = object
        .owner
        .as_deref()
        .or_else(|| rules.iter().find_map(|r| r.owner.as_deref()));
    let visibility = object
        .visibility
        .or_else(|| rules.iter().find_map(|r| r.visibility))
        .unwrap_or(policy.default_visibility);
    if let Some(p) = principal
        && owner == Some(p)
    {
        return Decision::Owner;
    }
    let grants = object
        .grants
        .iter()
        .chain(rules.iter().flat_map(|r| &r.grants));
    let mut by_group = false;
    for g in grants.filter(|g| g.permission.covers(wanted)) {
        if principal.is_some_and(|p| g.principal == p) {
            return Decision::Granted;
        }
        if let Some(group) = g.principal.strip_prefix("group:")
            && groups.iter().any(|m| m == group)
        {
            by_group = true;
        }
    }
    if by_group {
        return Decision::GrantedToGroup;
    }
    if wanted == Permission::Read {
        if visibility == Visibility::Public {
            return Decision::Public;
        }
        if policy
            .public_prefixes
            .iter()
            .any(|p| key.starts_with(p.as_str()))
        {
            return Decision::PublicPrefix;
        }
    }
    Decision::NotGranted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(
        owner: Option<&str>,
        visibility: Option<Visibility>,
        grants: Vec<Grant>,
    ) -> StoredObject {
        StoredObject {
            store: "s".into(),
            key: "courses/1/a.pdf".into(),
            size: 1,
            content_type: "application/pdf".into(),
            etag: "\"x\"".into(),
            sha256: None,
            visibility,
            owner: owner.map(str::to_string),
            grants,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn grant(principal: &str, permission: Permission) -> Grant {
        Grant {
            principal: principal.into(),
            permission,
        }
    }

    const PRIVATE: Policy<'static> = Policy {
        default_visibility: Visibility::Private,
        public_prefixes: &[],
    };

    #[test]
    fn owner_grants_groups_and_visibility_decide_in_that_order() {
        let key = "courses/1/a.pdf";
        let o = object(
            Some("u1"),
            None,
            vec![
                grant("u2", Permission::Read),
                grant("group:staff", Permission::Write),
            ],
        );
        let d = |p: Option<&str>, groups: &[&str], w| {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            decide(PRIVATE, key, Some(&o), &[], p, &groups, w)
        };
        assert_eq!(d(Some("u1"), &[], Permission::Write), Decision::Owner);
        assert_eq!(d(Some("u2"), &[], Permission::Read), Decision::Granted);
        assert_eq!(d(Some("u2"), &[], Permission::Write), Decision::NotGranted);
        assert_eq!(
            d(Some("u3"), &["staff"], Permission::Write),
            Decision::GrantedToGroup
        );
        assert_eq!(
            d(Some("u3"), &["staff"], Permission::Read),
            Decision::GrantedToGroup
        );
        assert_eq!(
            d(Some("u3"), &["students"], Permission::Read),
            Decision::NotGranted
        );
        assert_eq!(d(None, &[], Permission::Read), Decision::NotGranted);
        assert_eq!(
            decide(PRIVATE, key, None, &[], Some("u1"), &[], Permission::Read),
            Decision::NoSuchObject
        );
    }

    #[test]
    fn the_object_overrides_the_longest_prefix_and_grants_add_up() {
        let key = "courses/1/a.pdf";
        let rule = |prefix: &str, owner: Option<&str>, v: Option<Visibility>, grants| PrefixRule {
            store: "s".into(),
            prefix: prefix.into(),
            owner: owner.map(str::to_string),
            visibility: v,
            grants,
            updated_at: 0,
        };
        let rules = vec![
            rule("courses/", Some("admin"), Some(Visibility::Public), vec![]),
            rule(
                "courses/1/",
                Some("teacher"),
                None,
                vec![grant("group:c1", Permission::Read)],
            ),
            rule(
                "other/",
                Some("x"),
                None,
                vec![grant("u9", Permission::Write)],
            ),
        ];
        let plain = object(None, None, vec![]);
        let d = |o: &StoredObject, p: &str, groups: &[String], w| {
            decide(PRIVATE, key, Some(o), &rules, Some(p), groups, w)
        };
        assert_eq!(
            d(&plain, "teacher", &[], Permission::Write),
            Decision::Owner
        );
        assert_eq!(
            d(&plain, "admin", &[], Permission::Write),
            Decision::NotGranted
        );
        assert_eq!(d(&plain, "anyone", &[], Permission::Read), Decision::Public);
        assert_eq!(
            d(&plain, "u9", &[], Permission::Write),
            Decision::NotGranted
        );
        assert_eq!(
            d(&plain, "s1", &["c1".into()], Permission::Read),
            Decision::GrantedToGroup
        );
        let private = object(Some("u1"), Some(Visibility::Private), vec![]);
        assert_eq!(
            d(&private, "anyone", &[], Permission::Read),
            Decision::NotGranted
        );
        assert_eq!(
            d(&private, "teacher", &[], Permission::Read),
            Decision::NotGranted
        );
    }

    #[test]
    fn public_prefixes_open_reads_only() {
        let prefixes = vec!["public/".to_string()];
        let policy = Policy {
            default_visibility: Visibility::Private,
            public_prefixes: &prefixes,
        };
        let o = object(None, None, vec![]);
        let at = |key: &str, w| decide(policy, key, Some(&o), &[], None, &[], w);
        assert_eq!(
            at("public/logo.png", Permission::Read),
            Decision::PublicPrefix
        );
        assert_eq!(
            at("public/logo.png", Permission::Write),
            Decision::NotGranted
        );
        assert_eq!(at("private/x", Permission::Read), Decision::NotGranted);
        let open = Policy {
            default_visibility: Visibility::Public,
            public_prefixes: &[],
        };
        assert_eq!(
            decide(open, "x", Some(&o), &[], None, &[], Permission::Read),
            Decision::Public
        );
    }
}
