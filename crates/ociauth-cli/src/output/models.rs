//! Service responses as the official CLI shows them: the Python SDK deserializes the JSON into a
//! model (only the model's fields survive, every missing field becomes `null`, unknown enum values
//! become `UNKNOWN_ENUM_VALUE`, datetimes are parsed), then `cli_util.to_dict` prints the fields
//! with `-` instead of `_` and datetimes in `isoformat`. The field lists below are the Python
//! SDK 2.189 models' `swagger_types` / `attribute_map`.

use serde_json::{Map, Value};

use crate::util::sdk_datetime;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// str, int, bool, dict(...) and object: kept as they are.
    Plain,
    /// `str` restricted to these values (else `UNKNOWN_ENUM_VALUE`).
    Enum(&'static [&'static str]),
    DateTime,
    ListOf(&'static Model),
}

/// One SDK model: (python attribute, JSON key, kind).
#[derive(Debug)]
pub struct Model {
    pub fields: &'static [(&'static str, &'static str, Kind)],
}

pub static BUCKET_SUMMARY: Model = Model {
    fields: &[
        ("namespace", "namespace", Kind::Plain),
        ("name", "name", Kind::Plain),
        ("compartment_id", "compartmentId", Kind::Plain),
        ("created_by", "createdBy", Kind::Plain),
        ("time_created", "timeCreated", Kind::DateTime),
        ("etag", "etag", Kind::Plain),
        ("freeform_tags", "freeformTags", Kind::Plain),
        ("defined_tags", "definedTags", Kind::Plain),
        ("bucket_scope", "bucketScope", Kind::Plain),
    ],
};

pub static BUCKET: Model = Model {
    fields: &[
        ("namespace", "namespace", Kind::Plain),
        ("name", "name", Kind::Plain),
        ("compartment_id", "compartmentId", Kind::Plain),
        ("metadata", "metadata", Kind::Plain),
        ("created_by", "createdBy", Kind::Plain),
        ("time_created", "timeCreated", Kind::DateTime),
        ("etag", "etag", Kind::Plain),
        (
            "public_access_type",
            "publicAccessType",
            Kind::Enum(&["NoPublicAccess", "ObjectRead", "ObjectReadWithoutList"]),
        ),
        (
            "storage_tier",
            "storageTier",
            Kind::Enum(&["Standard", "Archive"]),
        ),
        ("object_events_enabled", "objectEventsEnabled", Kind::Plain),
        ("freeform_tags", "freeformTags", Kind::Plain),
        ("defined_tags", "definedTags", Kind::Plain),
        ("kms_key_id", "kmsKeyId", Kind::Plain),
        ("is_bucket_key_enabled", "isBucketKeyEnabled", Kind::Plain),
        (
            "object_lifecycle_policy_etag",
            "objectLifecyclePolicyEtag",
            Kind::Plain,
        ),
        ("approximate_count", "approximateCount", Kind::Plain),
        ("approximate_size", "approximateSize", Kind::Plain),
        ("replication_enabled", "replicationEnabled", Kind::Plain),
        ("is_read_only", "isReadOnly", Kind::Plain),
        ("id", "id", Kind::Plain),
        (
            "versioning",
            "versioning",
            Kind::Enum(&["Enabled", "Suspended", "Disabled"]),
        ),
        (
            "auto_tiering",
            "autoTiering",
            Kind::Enum(&["Disabled", "InfrequentAccess"]),
        ),
        (
            "bucket_scope",
            "bucketScope",
            Kind::Enum(&["NAMESPACE", "REGION"]),
        ),
    ],
};

pub static OBJECT_SUMMARY: Model = Model {
    fields: &[
        ("name", "name", Kind::Plain),
        ("size", "size", Kind::Plain),
        ("md5", "md5", Kind::Plain),
        ("time_created", "timeCreated", Kind::DateTime),
        ("etag", "etag", Kind::Plain),
        (
            "storage_tier",
            "storageTier",
            Kind::Enum(&["Standard", "InfrequentAccess", "Archive"]),
        ),
        (
            "archival_state",
            "archivalState",
            Kind::Enum(&["Archived", "Restoring", "Restored"]),
        ),
        ("time_modified", "timeModified", Kind::DateTime),
    ],
};

pub static LIST_OBJECTS: Model = Model {
    fields: &[
        ("objects", "objects", Kind::ListOf(&OBJECT_SUMMARY)),
        ("prefixes", "prefixes", Kind::Plain),
        ("next_start_with", "nextStartWith", Kind::Plain),
    ],
};

/// The CLI's view of one model instance (`to_dict(deserialize(json, Model))`).
pub fn to_cli(model: &Model, json: &Value) -> Value {
    let src = json.as_object();
    let mut out = Map::new();
    for (attr, key, kind) in model.fields {
        let v = src
            .and_then(|m| m.get(*key))
            .cloned()
            .unwrap_or(Value::Null);
        out.insert(attr.replace('_', "-"), convert(*kind, v));
    }
    Value::Object(out)
}

/// A list of model instances (`list[Model]`).
pub fn list_to_cli(model: &Model, json: &Value) -> Value {
    match json {
        Value::Array(items) => Value::Array(items.iter().map(|i| to_cli(model, i)).collect()),
        _ => Value::Null,
    }
}

fn convert(kind: Kind, v: Value) -> Value {
    if v.is_null() {
        return v;
    }
    match kind {
        Kind::Plain => v,
        Kind::Enum(allowed) => match &v {
            Value::String(s) if allowed.contains(&s.as_str()) => v,
            _ => Value::String("UNKNOWN_ENUM_VALUE".into()),
        },
        Kind::DateTime => match &v {
            Value::String(s) => Value::String(sdk_datetime(s)),
            _ => v,
        },
        Kind::ListOf(m) => list_to_cli(m, &v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bucket_summary_like_the_cli() {
        let raw = json!({"compartmentId": "c", "name": "b", "namespace": "ns", "unknownField": 1,
                         "timeCreated": "2026-11-28T17:06:18.388Z", "freeformTags": {"camelKey": "v"}});
        let v = to_cli(&BUCKET_SUMMARY, &raw);
        assert_eq!(
            v,
            json!({"namespace": "ns", "name": "b", "compartment-id": "c", "created-by": null,
                   "time-created": "2026-11-28T17:06:18.388000+00:00", "etag": null,
                   "freeform-tags": {"camelKey": "v"}, "defined-tags": null, "bucket-scope": null})
        );
        let b = to_cli(
            &BUCKET,
            &json!({"storageTier": "Weird", "publicAccessType": "NoPublicAccess"}),
        );
        assert_eq!(b["storage-tier"], "UNKNOWN_ENUM_VALUE");
        assert_eq!(b["public-access-type"], "NoPublicAccess");
    }
}
