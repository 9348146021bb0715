//! `ociauth os ...`: Object Storage commands with the official CLI's options and output.
//!
//! The namespace is looked up with `GET /n` when `--namespace-name` is not given, as the CLI
//! does. Differences from `oci` [I]: uploads are always a single PUT (no multipart), there is no
//! progress bar, and confirmations are refused (not asked) when stdin is not a terminal.

use std::path::Path;

use clap::{Args, Subcommand};
use ociauth::client::{OciRequest, RequestBody};
use ociauth::object_storage::{self as os, ListObjects, SERVICE, encode_path_segment};
use ociauth::regions::Service;
use serde_json::Value;

use crate::cmd::setup::io_reason;
use crate::context::Ctx;
use crate::errors::CliError;
use crate::globals::GlobalArgs;
use crate::output::models::{BUCKET, BUCKET_SUMMARY, LIST_OBJECTS, list_to_cli, to_cli};
use crate::output::{Rendered, display_headers, render, write_stdout};
use crate::prompt;
use crate::util::stdin_is_terminal;

#[derive(Debug, Subcommand)]
pub enum OsCommand {
    /// Namespace commands.
    #[command(subcommand)]
    Ns(NsCommand),
    /// Bucket commands.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// Object commands.
    #[command(subcommand)]
    Object(ObjectCommand),
}

#[derive(Debug, Subcommand)]
pub enum NsCommand {
    /// Gets the name of the Object Storage namespace for the user making the request.
    Get {
        /// The compartment of the tenancy whose namespace to get.
        #[arg(long, short = 'c')]
        compartment_id: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct NamespaceArg {
    /// The Object Storage namespace (-ns; looked up with `os ns get` when not given).
    #[arg(long = "namespace-name", visible_alias = "namespace")]
    pub namespace_name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BucketCommand {
    /// Lists the buckets in a compartment.
    List {
        #[command(flatten)]
        ns: NamespaceArg,
        /// The compartment to list the buckets of.
        #[arg(long, short = 'c')]
        compartment_id: String,
        /// The maximum number of items to return.
        #[arg(long)]
        limit: Option<u32>,
        /// The page to start at (the `opc-next-page` of a previous call).
        #[arg(long)]
        page: Option<String>,
        /// Fetch all pages.
        #[arg(long)]
        all: bool,
        /// Items per call with --all or --limit.
        #[arg(long)]
        page_size: Option<u32>,
    },
    /// Creates a bucket.
    Create {
        #[command(flatten)]
        ns: NamespaceArg,
        /// The compartment to create the bucket in.
        #[arg(long, short = 'c')]
        compartment_id: String,
        /// The bucket name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ObjectCommand {
    /// Lists the objects in a bucket.
    List {
        #[command(flatten)]
        ns: NamespaceArg,
        /// The name of the bucket (-bn).
        #[arg(long)]
        bucket_name: String,
        /// Only object names that begin with this prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// Only object names greater or equal to this.
        #[arg(long)]
        start: Option<String>,
        /// Only object names less than this.
        #[arg(long)]
        end: Option<String>,
        /// The maximum number of items to return [default: 100].
        #[arg(long)]
        limit: Option<u32>,
        /// Fetch all pages.
        #[arg(long)]
        all: bool,
        /// Items per call.
        #[arg(long)]
        page_size: Option<u32>,
        /// Only '/' is supported.
        #[arg(long)]
        delimiter: Option<String>,
        /// Fields of each object summary.
        #[arg(
            long,
            default_value = "name,size,etag,md5,timeCreated,timeModified,storageTier,archivalState"
        )]
        fields: String,
    },
    /// Uploads a file as an object (one PUT, streamed from disk, body not signed).
    Put {
        #[command(flatten)]
        ns: NamespaceArg,
        /// The name of the bucket (-bn).
        #[arg(long)]
        bucket_name: String,
        /// The file to upload ('-' reads stdin).
        #[arg(long)]
        file: String,
        /// The object name (default: the file's name).
        #[arg(long)]
        name: Option<String>,
        /// The content type (default application/octet-stream).
        #[arg(long)]
        content_type: Option<String>,
        /// Overwrite an existing object without asking.
        #[arg(long)]
        force: bool,
    },
    /// Downloads an object to a file ('-' writes to stdout).
    Get {
        #[command(flatten)]
        ns: NamespaceArg,
        /// The name of the bucket (-bn).
        #[arg(long)]
        bucket_name: String,
        /// The object name.
        #[arg(long)]
        name: String,
        /// Where to write ('-' is stdout).
        #[arg(long)]
        file: String,
    },
    /// Deletes an object.
    Delete {
        #[command(flatten)]
        ns: NamespaceArg,
        /// The name of the bucket (-bn).
        #[arg(long)]
        bucket_name: String,
        /// The object name.
        #[arg(long, visible_alias = "name")]
        object_name: String,
        /// Delete without asking.
        #[arg(long)]
        force: bool,
    },
}

/// Items per ListObjects call (`OBJECT_LIST_PAGE_SIZE`).
const OBJECT_LIST_PAGE_SIZE: u32 = 100;

pub async fn run(g: &GlobalArgs, cmd: OsCommand) -> Result<(), CliError> {
    // Argument checks come before any file is read, as in the CLI.
    match &cmd {
        OsCommand::Bucket(BucketCommand::List { all, limit, .. })
        | OsCommand::Object(ObjectCommand::List { all, limit, .. })
            if *all && limit.is_some() =>
        {
            return Err(CliError::usage(
                "If you provide the --all option you cannot provide the --limit option",
            ));
        }
        _ => {}
    }
    let ctx = Ctx::new(g)?;
    let endpoint = ctx.service_endpoint(Service::ObjectStorage).await?;
    let c = Call {
        ctx: &ctx,
        endpoint: &endpoint,
    };
    let rendered = match cmd {
        OsCommand::Ns(NsCommand::Get { compartment_id }) => {
            let ns = os::get_namespace(&ctx.client, &endpoint, compartment_id.as_deref()).await;
            let ns = c.check(ns).await?;
            render(Some(Value::String(ns)), vec![], &ctx.out, false)?
        }
        OsCommand::Bucket(BucketCommand::List {
            ns,
            compartment_id,
            limit,
            page,
            all,
            page_size,
        }) => {
            let ns = c.namespace(ns).await?;
            c.bucket_list(&ns, &compartment_id, limit, page, all, page_size)
                .await?
        }
        OsCommand::Bucket(BucketCommand::Create {
            ns,
            compartment_id,
            name,
        }) => {
            let ns = c.namespace(ns).await?;
            let resp =
                os::create_bucket(&ctx.client, &endpoint, &ns, &compartment_id, &name, None).await;
            let resp = c.check(resp).await?;
            render(
                Some(to_cli(&BUCKET, &resp.data)),
                display_headers(&resp.headers),
                &ctx.out,
                false,
            )?
        }
        OsCommand::Object(ObjectCommand::List {
            ns,
            bucket_name,
            prefix,
            start,
            end,
            limit,
            all,
            page_size,
            delimiter,
            fields,
        }) => {
            let ns = c.namespace(ns).await?;
            let q = ObjectListQuery {
                prefix,
                start,
                end,
                delimiter,
                fields,
            };
            c.object_list(&ns, &bucket_name, q, limit, all, page_size)
                .await?
        }
        OsCommand::Object(ObjectCommand::Put {
            ns,
            bucket_name,
            file,
            name,
            content_type,
            force,
        }) => {
            let ns = c.namespace(ns).await?;
            c.object_put(&ns, &bucket_name, &file, name, content_type, force)
                .await?
        }
        OsCommand::Object(ObjectCommand::Get {
            ns,
            bucket_name,
            name,
            file,
        }) => {
            let ns = c.namespace(ns).await?;
            c.object_get(&ns, &bucket_name, &name, &file).await?;
            Rendered::default()
        }
        OsCommand::Object(ObjectCommand::Delete {
            ns,
            bucket_name,
            object_name,
            force,
        }) => {
            if !force {
                if !stdin_is_terminal() {
                    return Err(CliError::fatal(format!(
                        "deleting object '{object_name}' needs confirmation; pass --force to delete it (stdin is not a terminal, so ociauth cannot ask)"
                    )));
                }
                if !prompt::confirm("Are you sure you want to delete this resource?")? {
                    return Err(CliError::Aborted);
                }
            }
            let ns = c.namespace(ns).await?;
            let resp =
                os::delete_object(&ctx.client, &endpoint, &ns, &bucket_name, &object_name).await;
            let resp = c.check(resp).await?;
            render(None, display_headers(&resp.headers), &ctx.out, false)?
        }
    };
    rendered.emit()
}

struct Call<'a> {
    ctx: &'a Ctx,
    endpoint: &'a str,
}

impl Call<'_> {
    async fn check<T>(&self, r: Result<T, ociauth::Error>) -> Result<T, CliError> {
        match r {
            Ok(v) => Ok(v),
            Err(e) => Err(self.ctx.error(e).await),
        }
    }

    /// `--namespace-name`, else `GET /n` as the CLI does.
    async fn namespace(&self, arg: NamespaceArg) -> Result<String, CliError> {
        if let Some(ns) = arg.namespace_name {
            if ns.trim().is_empty() || ns != ns.trim() {
                return Err(CliError::usage(
                    "Parameter --namespace-name cannot be whitespace or empty string",
                ));
            }
            return Ok(ns);
        }
        match os::get_namespace(&self.ctx.client, self.endpoint, None).await {
            Ok(ns) => Ok(ns),
            Err(ociauth::Error::Service(s)) => {
                let e = ociauth::Error::Service(s);
                Err(self.ctx.error(e).await)
            }
            Err(e) => Err(CliError::fatal(format!(
                "Unable to retrieve namespace internally ({e}). Please provide the namespace using the option \"--namespace-name\"."
            ))),
        }
    }

    async fn bucket_list(
        &self,
        ns: &str,
        compartment: &str,
        limit: Option<u32>,
        mut page: Option<String>,
        all: bool,
        page_size: Option<u32>,
    ) -> Result<Rendered, CliError> {
        let mut items: Vec<Value> = Vec::new();
        let mut remaining = limit.map(i64::from);
        let mut headers;
        loop {
            let call_limit = if all {
                page_size
            } else {
                match (remaining, page_size) {
                    (Some(r), Some(p)) => Some(clamp_u32(r.min(i64::from(p)))),
                    (Some(r), None) => Some(clamp_u32(r)),
                    (None, _) => None,
                }
            };
            let resp = os::list_buckets(
                &self.ctx.client,
                self.endpoint,
                ns,
                compartment,
                call_limit,
                page.as_deref(),
            )
            .await;
            let resp = self.check(resp).await?;
            let got = match &resp.data {
                Value::Array(a) => a.clone(),
                _ => Vec::new(),
            };
            if let Some(r) = remaining.as_mut() {
                *r -= got.len() as i64;
            }
            items.extend(got);
            headers = resp.headers.clone();
            let next = resp.header("opc-next-page").map(str::to_string);
            let more = next.is_some() && (all || remaining.is_some_and(|r| r > 0));
            if !more {
                break;
            }
            page = next;
        }
        if let Some(l) = limit {
            items.truncate(l as usize);
        }
        let data = list_to_cli(&BUCKET_SUMMARY, &Value::Array(items));
        let mut shown = display_headers(&headers);
        if all {
            // The last page has no opc-next-page; nothing else is shown for --all.
            shown.retain(|(k, _)| k != "opc-next-page");
        }
        render(Some(data), shown, &self.ctx.out, true)
    }

    async fn object_list(
        &self,
        ns: &str,
        bucket: &str,
        mut q: ObjectListQuery,
        limit: Option<u32>,
        all: bool,
        page_size: Option<u32>,
    ) -> Result<Rendered, CliError> {
        let mut remaining: i64 = if all {
            0
        } else {
            i64::from(limit.unwrap_or(100))
        };
        let mut objects: Vec<Value> = Vec::new();
        let mut prefixes: Vec<Value> = Vec::new();
        let mut fetched = false;
        let mut keep_paginating = true;
        let mut last_next: Option<String> = None;
        while (!all && (remaining > 0 || !fetched)) || (all && keep_paginating) {
            fetched = true;
            let call_limit = Some(if all {
                page_size.unwrap_or(OBJECT_LIST_PAGE_SIZE)
            } else {
                match page_size {
                    Some(p) => clamp_u32(remaining.min(i64::from(p))),
                    None => clamp_u32(remaining.min(i64::from(OBJECT_LIST_PAGE_SIZE))),
                }
            });
            let lo = ListObjects {
                prefix: q.prefix.as_deref(),
                start: q.start.as_deref(),
                end: q.end.as_deref(),
                limit: call_limit,
                delimiter: q.delimiter.as_deref(),
                fields: Some(&q.fields),
                start_after: None,
            };
            let resp = os::list_objects(&self.ctx.client, self.endpoint, ns, bucket, &lo).await;
            let resp = self.check(resp).await?;
            let page = to_cli(&LIST_OBJECTS, &resp.data);
            if let Some(Value::Array(ps)) = page.get("prefixes") {
                for p in ps {
                    if !prefixes.contains(p) {
                        prefixes.push(p.clone());
                    }
                }
            }
            let page_objects = match page.get("objects") {
                Some(Value::Array(o)) => o.clone(),
                _ => Vec::new(),
            };
            let n = page_objects.len() as i64;
            objects.extend(page_objects);
            last_next = page
                .get("next-start-with")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            match &last_next {
                Some(next) => {
                    if remaining != 0 {
                        remaining -= n;
                    }
                    q.start = Some(next.clone());
                }
                None => {
                    keep_paginating = false;
                    remaining = 0;
                }
            }
        }
        let mut meta = vec![("prefixes".to_string(), Value::Array(prefixes))];
        if let Some(n) = last_next {
            meta.push(("next-start-with".into(), Value::String(n)));
        }
        render(Some(Value::Array(objects)), meta, &self.ctx.out, true)
    }

    fn object_url(&self, ns: &str, bucket: &str, name: &str) -> Result<String, CliError> {
        let seg = |s: &str| encode_path_segment(s).map_err(CliError::usage);
        Ok(format!(
            "{}/n/{}/b/{}/o/{}",
            self.endpoint.trim_end_matches('/'),
            seg(ns)?,
            seg(bucket)?,
            seg(name)?
        ))
    }

    /// The object's etag, or `None` when it does not exist (HEAD answers 404).
    async fn head_etag(&self, url: &str) -> Result<Option<String>, CliError> {
        let req = OciRequest::new("HEAD", url);
        match self.ctx.client.send(req).await {
            Ok(r) => Ok(r.header("etag").map(str::to_string)),
            Err(ociauth::Error::Service(s)) if s.status == 404 => Ok(None),
            Err(e) => Err(self
                .ctx
                .error(e.with_operation(SERVICE, "head_object"))
                .await),
        }
    }

    async fn object_put(
        &self,
        ns: &str,
        bucket: &str,
        file: &str,
        name: Option<String>,
        content_type: Option<String>,
        force: bool,
    ) -> Result<Rendered, CliError> {
        let name = match name {
            Some(n) => n,
            None if file == "-" => {
                return Err(CliError::usage(
                    "Option \"--name\" must be provided when reading object from stdin",
                ));
            }
            None => Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| {
                    CliError::usage(format!("--file {file:?} does not name a file; pass --name"))
                })?,
        };
        let body = if file == "-" {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)
                .map_err(|e| CliError::fatal(format!("cannot read stdin: {e}")))?;
            RequestBody::Bytes(buf.into())
        } else {
            let meta = std::fs::metadata(file).map_err(|e| {
                CliError::usage(format!(
                    "Invalid value for '--file': '{file}': {}",
                    io_reason(&e)
                ))
            })?;
            if !meta.is_file() {
                return Err(CliError::usage(format!(
                    "Invalid value for '--file': '{file}' is not a regular file"
                )));
            }
            RequestBody::File(file.into())
        };
        let url = self.object_url(ns, bucket, &name)?;
        let mut req = OciRequest::new("PUT", url.clone())
            .header(
                "content-type",
                content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream"),
            )
            .body(body)
            .sign_body(false);
        if !force {
            match self.head_etag(&url).await? {
                None => req = req.header("if-none-match", "*"),
                Some(etag) => {
                    if !stdin_is_terminal() {
                        return Err(CliError::fatal(format!(
                            "object '{name}' already exists in bucket '{bucket}'; pass --force to overwrite it (stdin is not a terminal, so ociauth cannot ask)"
                        )));
                    }
                    if !prompt::confirm(
                        "WARNING: This object already exists. Are you sure you want to overwrite it?",
                    )? {
                        return Err(CliError::Aborted);
                    }
                    req = req.header("if-match", etag);
                }
            }
        }
        let resp = self
            .ctx
            .client
            .send(req)
            .await
            .map_err(|e| e.with_operation(SERVICE, "put_object"));
        let resp = self.check(resp).await?;
        const SHOWN: [&str; 11] = [
            "etag",
            "opc-content-md5",
            "last-modified",
            "opc-multipart-md5",
            "opc-content-crc32c",
            "opc-content-sha256",
            "opc-content-sha384",
            "opc-multipart-sha256",
            "opc-multipart-sha384",
            "opc-multipart-crc32c",
            "version-id",
        ];
        let mut headers: Vec<(String, Value)> = Vec::new();
        for (k, v) in &resp.headers {
            let k = k.to_ascii_lowercase();
            if SHOWN.contains(&k.as_str()) && !headers.iter().any(|(x, _)| *x == k) {
                headers.push((k, Value::String(v.clone())));
            }
        }
        render(None, headers, &self.ctx.out, false)
    }

    async fn object_get(
        &self,
        ns: &str,
        bucket: &str,
        name: &str,
        file: &str,
    ) -> Result<(), CliError> {
        if file == "-" {
            let url = self.object_url(ns, bucket, name)?;
            let resp = self
                .ctx
                .client
                .send_streaming(OciRequest::get(url))
                .await
                .map_err(|e| e.with_operation(SERVICE, "get_object"));
            let mut resp = self.check(resp).await?;
            loop {
                let chunk = resp.chunk().await;
                match self.check(chunk).await? {
                    Some(bytes) => {
                        let mut out = std::io::stdout().lock();
                        match std::io::Write::write_all(&mut out, &bytes) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                                return Err(CliError::Exit(0));
                            }
                            Err(e) => {
                                return Err(CliError::fatal(format!(
                                    "cannot write to stdout: {e}"
                                )));
                            }
                        }
                    }
                    None => break,
                }
            }
            return write_stdout("");
        }
        let dest = Path::new(file);
        let r =
            os::get_object_to_file(&self.ctx.client, self.endpoint, ns, bucket, name, dest).await;
        self.check(r).await.map(|_| ())
    }
}

/// The ListObjects parameters that stay the same across pages (`start` moves on).
struct ObjectListQuery {
    prefix: Option<String>,
    start: Option<String>,
    end: Option<String>,
    delimiter: Option<String>,
    fields: String,
}

fn clamp_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}
