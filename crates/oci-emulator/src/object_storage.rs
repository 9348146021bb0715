//! Object Storage: namespace, buckets and objects, with the real API's paths, JSON shapes
//! (camelCase) and headers (`etag`, `last-modified`, `content-md5`, `opc-next-page`).
//!
//! Choices where the real service's behaviour was inferred [I]:
//! - a missing bucket is 404 `BucketNotFound`, a missing object 404 `ObjectNotFound` (the codes
//!   Object Storage uses); a foreign namespace on namespace-level calls is 404
//!   `NotAuthorizedOrNotFound`;
//! - in ListObjects, collapsed `prefixes` count toward `limit` like objects do;
//! - PutObject needs `Content-Length` (Object Storage refuses chunked uploads): 411 otherwise;
//! - ListBuckets pages with `page` = the last bucket name of the previous page.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use crate::server::{ApiError, AppState, guard, json_response};
use crate::state::{Bucket, ObjectMeta, StateData, from_millis, ids, rfc3339, to_millis};
use crate::verify::{BodyError, BodyMode, Principal, Rejection, SigningPolicy, unauthenticated};

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

/// Largest number of items one list call returns.
const MAX_LIMIT: usize = 1000;

pub(crate) fn routes(app: &AppState) -> Router<AppState> {
    let standard = || guard(app, SigningPolicy::STANDARD, BodyMode::Buffer);
    let put_guard = guard(app, SigningPolicy::BODY_SIGNING_OPTIONAL, BodyMode::Stream);
    Router::new()
        .route("/n", get(get_namespace).route_layer(standard()))
        .route("/n/", get(get_namespace).route_layer(standard()))
        .route(
            "/n/{ns}/b",
            get(list_buckets)
                .post(create_bucket)
                .route_layer(standard()),
        )
        .route(
            "/n/{ns}/b/{bucket}",
            get(get_bucket)
                .head(get_bucket)
                .delete(delete_bucket)
                .route_layer(standard()),
        )
        .route(
            "/n/{ns}/b/{bucket}/o",
            get(list_objects).route_layer(standard()),
        )
        .route(
            "/n/{ns}/b/{bucket}/o/{*object}",
            get(get_object)
                .head(get_object)
                .delete(delete_object)
                .route_layer(standard())
                .merge(put(put_object).route_layer(put_guard)),
        )
}

fn params(q: Params) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(m)| m)
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}")))
}

fn bucket_not_found(ns: &str, bucket: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "BucketNotFound",
        format!(
            "Either the bucket named '{bucket}' does not exist in the namespace '{ns}' or you are not authorized to access it"
        ),
    )
}

fn object_not_found(bucket: &str, object: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ObjectNotFound",
        format!("The object '{object}' was not found in the bucket '{bucket}'"),
    )
}

fn check_namespace(d: &StateData, ns: &str) -> Result<(), ApiError> {
    if d.namespace == ns {
        Ok(())
    } else {
        Err(ApiError::not_found())
    }
}

fn find_bucket<'a>(d: &'a StateData, ns: &str, name: &str) -> Result<&'a Bucket, ApiError> {
    if d.namespace != ns {
        return Err(bucket_not_found(ns, name));
    }
    d.buckets
        .get(name)
        .ok_or_else(|| bucket_not_found(ns, name))
}

fn find_bucket_mut<'a>(
    d: &'a mut StateData,
    ns: &str,
    name: &str,
) -> Result<&'a mut Bucket, ApiError> {
    if d.namespace != ns {
        return Err(bucket_not_found(ns, name));
    }
    d.buckets
        .get_mut(name)
        .ok_or_else(|| bucket_not_found(ns, name))
}

fn parse_limit(p: &HashMap<String, String>, default: usize) -> Result<usize, ApiError> {
    match p.get("limit") {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "The 'limit' query parameter must be an integer from 1 to {MAX_LIMIT}, not '{v}'."
            ))),
        },
    }
}

fn set_header(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

// ---------------------------------------------------------------------------------------------
// Namespace

/// `GET /n` and `/n/`: the namespace as a JSON string literal.
async fn get_namespace(State(app): State<AppState>) -> Response {
    let ns = app.store.namespace();
    json_response(StatusCode::OK, &Value::String(ns))
}

// ---------------------------------------------------------------------------------------------
// Buckets

fn bucket_summary(ns: &str, b: &Bucket, tags: bool) -> Value {
    let mut v = json!({
        "namespace": ns,
        "name": b.name,
        "compartmentId": b.compartment_id,
        "createdBy": b.created_by,
        "timeCreated": rfc3339(b.time_created),
        "etag": b.etag,
    });
    if tags {
        v["freeformTags"] = json!(b.freeform_tags);
        v["definedTags"] = Value::Object(b.defined_tags.clone());
    }
    v
}

fn bucket_json(ns: &str, b: &Bucket) -> Value {
    json!({
        "namespace": ns,
        "name": b.name,
        "compartmentId": b.compartment_id,
        "metadata": b.metadata,
        "createdBy": b.created_by,
        "timeCreated": rfc3339(b.time_created),
        "etag": b.etag,
        "publicAccessType": b.public_access_type,
        "storageTier": b.storage_tier,
        "objectEventsEnabled": b.object_events_enabled,
        "freeformTags": b.freeform_tags,
        "definedTags": Value::Object(b.defined_tags.clone()),
        "kmsKeyId": null,
        "objectLifecyclePolicyEtag": null,
        "approximateCount": null,
        "approximateSize": null,
        "replicationEnabled": false,
        "isReadOnly": false,
        "id": b.id,
        "versioning": "Disabled",
        "autoTiering": "Disabled",
    })
}

/// `GET /n/{ns}/b?compartmentId=…[&limit&page&fields=tags]`.
async fn list_buckets(
    State(app): State<AppState>,
    UrlPath(ns): UrlPath<String>,
    q: Params,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let compartment = p
        .get("compartmentId")
        .ok_or_else(|| ApiError::missing("compartmentId"))?;
    let limit = parse_limit(&p, MAX_LIMIT)?;
    let tags = match p.get("fields").map(|f| f.to_ascii_lowercase()) {
        None => false,
        Some(f) if f == "tags" => true,
        Some(f) => {
            return Err(ApiError::bad_request(format!(
                "The 'fields' query parameter supports only 'tags', not '{f}'."
            )));
        }
    };
    let page = p.get("page").cloned();
    app.store.read(|d| {
        check_namespace(d, &ns)?;
        let from = match &page {
            Some(after) => Bound::Excluded(after.as_str()),
            None => Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut next = None;
        for b in d
            .buckets
            .range::<str, _>((from, Bound::Unbounded))
            .map(|(_, b)| b)
        {
            if &b.compartment_id != compartment {
                continue;
            }
            if items.len() == limit {
                next = items
                    .last()
                    .and_then(|v: &Value| v["name"].as_str().map(str::to_string));
                break;
            }
            items.push(bucket_summary(&ns, b, tags));
        }
        let mut resp = json_response(StatusCode::OK, &Value::Array(items));
        if let Some(n) = next {
            set_header(resp.headers_mut(), "opc-next-page", &n);
        }
        Ok(resp)
    })
}

fn valid_bucket_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 256
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn string_map(
    v: Option<&Value>,
    field: &str,
) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Default::default()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(ApiError::bad_request(format!(
                    "'{field}' values must be strings."
                ))),
            })
            .collect(),
        Some(_) => Err(ApiError::bad_request(format!(
            "'{field}' must be an object of strings."
        ))),
    }
}

/// `POST /n/{ns}/b` with CreateBucketDetails.
async fn create_bucket(
    State(app): State<AppState>,
    UrlPath(ns): UrlPath<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let principal = req.extensions().get::<Principal>().cloned();
    let body = crate::verify::collect_capped(req.into_body(), app.limits.max_buffered_body)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let details: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "CannotParseRequest",
            format!("The request body is not valid JSON: {e}"),
        )
    })?;
    let name = match details.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(ApiError::missing("name")),
    };
    let compartment_id = match details.get("compartmentId") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(ApiError::missing("compartmentId")),
    };
    if !valid_bucket_name(&name) {
        return Err(ApiError::bad_request(format!(
            "Invalid bucket name '{name}': use 1 to 256 letters, digits, dashes, underscores and periods."
        )));
    }
    let metadata = string_map(details.get("metadata"), "metadata")?;
    let freeform_tags = string_map(details.get("freeformTags"), "freeformTags")?;
    let defined_tags = match details.get("definedTags") {
        Some(Value::Object(m)) => m.clone(),
        _ => Default::default(),
    };
    let str_field = |k: &str, default: &str| {
        details
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    let public_access_type = str_field("publicAccessType", "NoPublicAccess");
    let storage_tier = str_field("storageTier", "Standard");
    let object_events_enabled = details
        .get("objectEventsEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let created_by = principal.map(|p| p.principal_id).unwrap_or_default();
    let now = to_millis(app.clock.now());
    let bucket = app.store.update(|d| {
        check_namespace(d, &ns)?;
        if compartment_id != d.compartment.id && compartment_id != d.tenancy.id {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "RelatedResourceNotAuthorizedOrNotFound",
                format!(
                    "A resource specified in the body of the request was not found, or you do not have authorization to access that resource: compartment '{compartment_id}'."
                ),
            ));
        }
        if d.buckets.contains_key(&name) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "BucketAlreadyExists",
                format!(
                    "Either the bucket '{name}' in namespace '{ns}' already exists or you are not authorized to create it"
                ),
            ));
        }
        let region_key = "iad";
        let b = Bucket {
            id: ids::ocid("bucket", region_key),
            name: name.clone(),
            compartment_id: compartment_id.clone(),
            created_by,
            time_created: now,
            etag: ids::etag(),
            metadata,
            freeform_tags,
            defined_tags,
            public_access_type,
            storage_tier,
            object_events_enabled,
            objects: Default::default(),
        };
        d.buckets.insert(name.clone(), b.clone());
        Ok(b)
    })?;
    let mut resp = json_response(StatusCode::OK, &bucket_json(&ns, &bucket));
    set_header(resp.headers_mut(), "etag", &bucket.etag);
    set_header(
        resp.headers_mut(),
        "location",
        &format!("/n/{ns}/b/{}", bucket.name),
    );
    Ok(resp)
}

/// `GET`/`HEAD /n/{ns}/b/{bucket}`.
async fn get_bucket(
    State(app): State<AppState>,
    method: Method,
    UrlPath((ns, name)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    let b = app.store.read(|d| find_bucket(d, &ns, &name).cloned())?;
    let mut resp = if method == Method::HEAD {
        StatusCode::OK.into_response()
    } else {
        json_response(StatusCode::OK, &bucket_json(&ns, &b))
    };
    set_header(resp.headers_mut(), "etag", &b.etag);
    Ok(resp)
}

/// `DELETE /n/{ns}/b/{bucket}`: only an empty bucket.
async fn delete_bucket(
    State(app): State<AppState>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    app.store.update(|d| {
        let b = find_bucket(d, &ns, &name)?;
        if !b.objects.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "BucketNotEmpty",
                format!("Bucket named '{name}' is not empty. Delete all objects first."),
            ));
        }
        d.buckets.remove(&name);
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Objects

const OBJECT_FIELDS: &[&str] = &[
    "name",
    "size",
    "md5",
    "timeCreated",
    "etag",
    "storageTier",
    "archivalState",
    "timeModified",
];

fn object_summary(name: &str, o: &ObjectMeta, fields: &[&str]) -> Value {
    let mut v = serde_json::Map::new();
    v.insert("name".into(), json!(name));
    for f in fields {
        let val = match *f {
            "size" => json!(o.size),
            "md5" => json!(o.md5),
            "timeCreated" => json!(rfc3339(o.time_created)),
            "etag" => json!(o.etag),
            "storageTier" => json!("Standard"),
            "timeModified" => json!(rfc3339(o.time_modified)),
            // Only archived objects have an archival state.
            _ => continue,
        };
        v.insert((*f).into(), val);
    }
    Value::Object(v)
}

/// `GET /n/{ns}/b/{bucket}/o[?prefix&start&end&startAfter&limit&delimiter&fields]`.
async fn list_objects(
    State(app): State<AppState>,
    UrlPath((ns, bucket)): UrlPath<(String, String)>,
    q: Params,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let limit = parse_limit(&p, MAX_LIMIT)?;
    let prefix = p.get("prefix").cloned().unwrap_or_default();
    let start = p.get("start").cloned();
    let start_after = p.get("startAfter").cloned();
    let end = p.get("end").cloned();
    let delimiter = p.get("delimiter").cloned();
    if let Some(d) = &delimiter
        && d != "/"
    {
        return Err(ApiError::bad_request(
            "The only supported delimiter is '/'.",
        ));
    }
    let mut fields: Vec<&str> = Vec::new();
    if let Some(fs) = p.get("fields") {
        for f in fs.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let known = OBJECT_FIELDS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(f))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid field '{f}' in 'fields'; allowed: {}.",
                        OBJECT_FIELDS.join(", ")
                    ))
                })?;
            fields.push(known);
        }
    }
    // Keep the model's order whatever order the client asked in.
    let fields: Vec<&str> = OBJECT_FIELDS
        .iter()
        .copied()
        .filter(|f| fields.contains(f))
        .collect();

    let body = app.store.read(|d| {
        let b = find_bucket(d, &ns, &bucket)?;
        let from = match (&start, &start_after) {
            (Some(s), Some(a)) if a.as_str() >= s.as_str() => Bound::Excluded(a.as_str()),
            (Some(s), _) => Bound::Included(s.as_str()),
            (None, Some(a)) => Bound::Excluded(a.as_str()),
            (None, None) => Bound::Included(prefix.as_str()),
        };
        let mut objects = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut next: Option<String> = None;
        let mut count = 0usize;
        for (name, o) in b.objects.range::<str, _>((from, Bound::Unbounded)) {
            if let Some(e) = &end
                && name.as_str() >= e.as_str()
            {
                break;
            }
            if !name.starts_with(prefix.as_str()) {
                if name.as_str() > prefix.as_str() {
                    break;
                }
                continue;
            }
            if let Some(delim) = &delimiter
                && let Some(i) = name[prefix.len()..].find(delim.as_str())
            {
                let pre = &name[..prefix.len() + i + delim.len()];
                if prefixes.last().map(String::as_str) == Some(pre) {
                    continue;
                }
                if count == limit {
                    next = Some(name.clone());
                    break;
                }
                prefixes.push(pre.to_string());
                count += 1;
                continue;
            }
            if count == limit {
                next = Some(name.clone());
                break;
            }
            objects.push(object_summary(name, o, &fields));
            count += 1;
        }
        let mut v = json!({ "objects": objects });
        if delimiter.is_some() {
            v["prefixes"] = json!(prefixes);
        }
        if let Some(n) = next {
            v["nextStartWith"] = json!(n);
        }
        Ok::<_, ApiError>(v)
    })?;
    Ok(json_response(StatusCode::OK, &body))
}

/// Removes a file on drop unless disarmed (temporary upload files).
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// If-Match / If-None-Match for writes.
fn write_preconditions(h: &HeaderMap, existing: Option<&ObjectMeta>) -> Result<(), ApiError> {
    if let Some(m) = header_str(h, "if-match") {
        let ok = match existing {
            Some(o) => m == "*" || m == o.etag,
            None => false,
        };
        if !ok {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "IfMatchFailed",
                format!(
                    "The If-Match header is '{m}' but the current entity tag is '{}'",
                    existing.map(|o| o.etag.as_str()).unwrap_or("")
                ),
            ));
        }
    }
    if let Some(m) = header_str(h, "if-none-match") {
        if m != "*" {
            return Err(ApiError::bad_request(
                "The only supported value of If-None-Match on writes is '*'.",
            ));
        }
        if existing.is_some() {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "IfNoneMatchFailed",
                "The If-None-Match header is '*' but there is an existing entity",
            ));
        }
    }
    Ok(())
}

fn valid_object_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 1024 && !n.contains('\0')
}

async fn create_private_file(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut o = tokio::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    o.mode(0o600);
    o.open(path).await
}

/// `PUT /n/{ns}/b/{bucket}/o/{object}`: streamed to a temporary file (hashing as it goes when
/// the body was signed), committed only after the whole body arrived and checked out.
async fn put_object(
    State(app): State<AppState>,
    UrlPath((ns, bucket, object)): UrlPath<(String, String, String)>,
    req: Request,
) -> Result<Response, Response> {
    let (parts, body) = req.into_parts();
    let h = &parts.headers;
    if !valid_object_name(&object) {
        return Err(ApiError::bad_request("Invalid object name.").into_response());
    }
    app.store
        .read(|d| {
            let b = find_bucket(d, &ns, &bucket)?;
            write_preconditions(h, b.objects.get(&object))
        })
        .map_err(IntoResponse::into_response)?;
    let Some(declared) = header_str(h, "content-length").and_then(|v| v.parse::<u64>().ok()) else {
        return Err(ApiError::new(
            StatusCode::LENGTH_REQUIRED,
            "MissingContentLength",
            "The Content-Length header is required.",
        )
        .into_response());
    };
    if declared > app.limits.max_stream_body {
        return Err(ApiError::too_large(app.limits.max_stream_body).into_response());
    }

    let dir = app.store.objects_dir();
    let file_name = uuid::Uuid::new_v4().simple().to_string();
    let tmp_path = dir.join(format!(".upload-{file_name}"));
    let mut tmp = TempFile(Some(tmp_path.clone()));
    let mut file = create_private_file(&tmp_path)
        .await
        .map_err(|e| ApiError::internal(format!("{}: {e}", tmp_path.display())).into_response())?;
    let mut md5 = Md5::new();
    let mut len: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                return Err(match BodyError::from_axum(e) {
                    BodyError::Unauthenticated(reason) => unauthenticated(Rejection {
                        reason,
                        key_id: None,
                    }),
                    BodyError::TooLarge(n) => ApiError::too_large(n).into_response(),
                    BodyError::Read(m) => ApiError::bad_request(m).into_response(),
                });
            }
        };
        md5.update(&chunk);
        len += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(|e| {
            ApiError::internal(format!("{}: {e}", tmp_path.display())).into_response()
        })?;
    }
    file.sync_all()
        .await
        .map_err(|e| ApiError::internal(format!("{}: {e}", tmp_path.display())).into_response())?;
    drop(file);
    if len != declared {
        return Err(ApiError::bad_request(format!(
            "The body has {len} bytes but Content-Length is {declared}."
        ))
        .into_response());
    }
    let md5_b64 = B64.encode(md5.finalize());
    if let Some(given) = header_str(h, "content-md5")
        && given != md5_b64
    {
        return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "UnmatchedContentMD5",
                format!(
                    "The computed MD5 of the request body ({md5_b64}) does not match the Content-MD5 header ({given})"
                ),
            )
            .into_response());
    }

    let now = to_millis(app.clock.now());
    let final_path = dir.join(&file_name);
    let opt = |n: &str| header_str(h, n).map(str::to_string);
    let user_metadata = h
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().strip_prefix("opc-meta-")?;
            Some((key.to_string(), v.to_str().ok()?.to_string()))
        })
        .collect();
    let mut meta = ObjectMeta {
        file: file_name.clone(),
        size: len,
        md5: md5_b64.clone(),
        etag: ids::etag(),
        time_created: now,
        time_modified: now,
        content_type: opt("content-type").unwrap_or_else(|| "application/octet-stream".into()),
        content_encoding: opt("content-encoding"),
        content_language: opt("content-language"),
        content_disposition: opt("content-disposition"),
        cache_control: opt("cache-control"),
        user_metadata,
    };
    let replaced = app
        .store
        .update(|d| {
            let b = find_bucket_mut(d, &ns, &bucket)?;
            let existing = b.objects.get(&object);
            write_preconditions(h, existing)?;
            if let Some(old) = existing {
                meta.time_created = old.time_created;
            }
            std::fs::rename(&tmp_path, &final_path)
                .map_err(|e| ApiError::internal(format!("{}: {e}", final_path.display())))?;
            Ok::<_, ApiError>(b.objects.insert(object.clone(), meta.clone()))
        })
        .map_err(|e| {
            // A rename that happened before a failed save leaves an orphan: remove it.
            let _ = std::fs::remove_file(&final_path);
            e.into_response()
        })?;
    tmp.disarm();
    if let Some(old) = replaced {
        let _ = std::fs::remove_file(dir.join(old.file));
    }
    let mut resp = StatusCode::OK.into_response();
    let rh = resp.headers_mut();
    set_header(rh, "etag", &meta.etag);
    set_header(
        rh,
        "last-modified",
        &httpdate::fmt_http_date(from_millis(now)),
    );
    set_header(rh, "opc-content-md5", &md5_b64);
    Ok(resp)
}

/// A parsed single `Range: bytes=…` header: (first, last) inclusive.
fn parse_range(v: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // multiple ranges: ignore, send everything
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let first: u64 = a.parse().ok()?;
        let last = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>().ok()?.min(size.saturating_sub(1))
        };
        if first >= size || last < first {
            return Some(Err(()));
        }
        (first, last)
    };
    Some(Ok(r))
}

fn object_headers(h: &mut HeaderMap, o: &ObjectMeta) {
    set_header(h, "etag", &o.etag);
    set_header(
        h,
        "last-modified",
        &httpdate::fmt_http_date(from_millis(o.time_modified)),
    );
    set_header(h, "content-type", &o.content_type);
    set_header(h, "accept-ranges", "bytes");
    set_header(h, "storage-tier", "Standard");
    for (name, v) in [
        ("content-encoding", &o.content_encoding),
        ("content-language", &o.content_language),
        ("content-disposition", &o.content_disposition),
        ("cache-control", &o.cache_control),
    ] {
        if let Some(v) = v {
            set_header(h, name, v);
        }
    }
    for (k, v) in &o.user_metadata {
        if let (Ok(name), Ok(val)) = (
            HeaderName::from_bytes(format!("opc-meta-{k}").as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(name, val);
        }
    }
}

/// `GET`/`HEAD /n/{ns}/b/{bucket}/o/{object}` (with `Range`, `If-Match`, `If-None-Match`).
async fn get_object(
    State(app): State<AppState>,
    method: Method,
    headers: HeaderMap,
    UrlPath((ns, bucket, object)): UrlPath<(String, String, String)>,
) -> Result<Response, ApiError> {
    let o = app.store.read(|d| {
        let b = find_bucket(d, &ns, &bucket)?;
        b.objects
            .get(&object)
            .cloned()
            .ok_or_else(|| object_not_found(&bucket, &object))
    })?;
    if let Some(m) = header_str(&headers, "if-match")
        && m != "*"
        && m != o.etag
    {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "IfMatchFailed",
            format!(
                "The If-Match header is '{m}' but the current entity tag is '{}'",
                o.etag
            ),
        ));
    }
    if let Some(m) = header_str(&headers, "if-none-match")
        && (m == "*" || m == o.etag)
    {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        set_header(resp.headers_mut(), "etag", &o.etag);
        return Ok(resp);
    }
    let range = match header_str(&headers, "range").and_then(|r| parse_range(r, o.size)) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(())) => {
            let mut resp = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                format!(
                    "The requested range is not satisfiable for an object of {} bytes.",
                    o.size
                ),
            )
            .into_response();
            set_header(
                resp.headers_mut(),
                "content-range",
                &format!("bytes */{}", o.size),
            );
            return Ok(resp);
        }
    };
    let (status, first, len) = match range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        None => (StatusCode::OK, 0, o.size),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let path = app.store.objects_dir().join(&o.file);
        let mut f = tokio::fs::File::open(&path)
            .await
            .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
        if first > 0 {
            f.seek(std::io::SeekFrom::Start(first))
                .await
                .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
        }
        file_body(f.take(len))
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    object_headers(h, &o);
    set_header(h, "content-length", &len.to_string());
    match range {
        Some((a, b)) => set_header(h, "content-range", &format!("bytes {a}-{b}/{}", o.size)),
        None => set_header(h, "content-md5", &o.md5),
    }
    Ok(resp)
}

/// Stream a reader as a body in 64 KiB chunks.
fn file_body(r: tokio::io::Take<tokio::fs::File>) -> Body {
    let stream = futures_util::stream::unfold(Some(r), |st| async move {
        let mut r = st?;
        let mut buf = vec![0u8; 64 << 10];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), Some(r)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Body::from_stream(stream)
}

/// `DELETE /n/{ns}/b/{bucket}/o/{object}`.
async fn delete_object(
    State(app): State<AppState>,
    headers: HeaderMap,
    UrlPath((ns, bucket, object)): UrlPath<(String, String, String)>,
) -> Result<Response, ApiError> {
    let removed = app.store.update(|d| {
        let b = find_bucket_mut(d, &ns, &bucket)?;
        let existing = b
            .objects
            .get(&object)
            .ok_or_else(|| object_not_found(&bucket, &object))?;
        if let Some(m) = header_str(&headers, "if-match")
            && m != "*"
            && m != existing.etag
        {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "IfMatchFailed",
                format!(
                    "The If-Match header is '{m}' but the current entity tag is '{}'",
                    existing.etag
                ),
            ));
        }
        Ok(b.objects.remove(&object))
    })?;
    if let Some(o) = removed {
        let _ = std::fs::remove_file(app.store.objects_dir().join(o.file));
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    set_header(
        resp.headers_mut(),
        "last-modified",
        &httpdate::fmt_http_date(app.clock.now()),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10), Some(Ok((0, 4))));
        assert_eq!(parse_range("bytes=5-", 10), Some(Ok((5, 9))));
        assert_eq!(parse_range("bytes=-3", 10), Some(Ok((7, 9))));
        assert_eq!(parse_range("bytes=2-100", 10), Some(Ok((2, 9))));
        assert_eq!(parse_range("bytes=10-", 10), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
    }
}
