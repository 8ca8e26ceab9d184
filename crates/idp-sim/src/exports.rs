//! Auth0 users-export jobs: the job's life (`pending` for a configurable number of polls or
//! seconds, then `completed` or an injected `failed`) and the file it produces — one user per
//! line (NDJSON) or CSV, only the requested fields, gzip-compressed as Auth0 serves it.

use std::collections::HashMap;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::iso_ms;
use crate::model::ExportTiming;

/// Fields exported when the request names none.
const DEFAULT_FIELDS: [&str; 12] = [
    "user_id",
    "email",
    "email_verified",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "picture",
    "created_at",
    "updated_at",
    "blocked",
    "identities",
];

/// Most fields one export may name.
pub(crate) const MAX_FIELDS: usize = 30;

/// File format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ExportFormat {
    Json,
    Csv,
}

impl ExportFormat {
    fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
        }
    }
}

/// One requested field: a path into the user (`email`, `identities[0].connection`,
/// `app_metadata.plan`) and the name it is written under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExportField {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) export_as: Option<String>,
}

impl ExportField {
    fn column(&self) -> &str {
        self.export_as.as_deref().unwrap_or(&self.name)
    }
}

/// Where a job is in its life.
pub(crate) enum JobState {
    Pending,
    Completed { file: Vec<u8>, token: String },
    Failed,
}

/// One users-export job.
pub(crate) struct ExportJob {
    pub(crate) id: String,
    /// `(connection_id, connection name)` when the export is limited to one connection.
    pub(crate) connection: Option<(String, String)>,
    pub(crate) format: ExportFormat,
    pub(crate) limit: Option<u64>,
    pub(crate) fields: Vec<ExportField>,
    pub(crate) created_ms: i64,
    pub(crate) polls: u32,
    pub(crate) will_fail: bool,
    pub(crate) state: JobState,
}

/// The jobs of one tenant.
#[derive(Default)]
pub(crate) struct Exports {
    pub(crate) jobs: HashMap<String, ExportJob>,
}

impl ExportJob {
    pub(crate) fn new(
        id: String,
        format: ExportFormat,
        connection: Option<(String, String)>,
        limit: Option<u64>,
        fields: Option<Vec<ExportField>>,
        created_ms: i64,
        will_fail: bool,
    ) -> Self {
        let fields = fields.filter(|f| !f.is_empty()).unwrap_or_else(|| {
            DEFAULT_FIELDS
                .iter()
                .map(|n| ExportField {
                    name: (*n).to_string(),
                    export_as: None,
                })
                .collect()
        });
        Self {
            id,
            connection,
            format,
            limit,
            fields,
            created_ms,
            polls: 0,
            will_fail,
            state: JobState::Pending,
        }
    }

    /// Counts one status poll; true when the job may now leave `pending`.
    pub(crate) fn poll(&mut self, timing: ExportTiming, now_ms: i64) -> bool {
        self.polls = self.polls.saturating_add(1);
        let waited_ms = now_ms.saturating_sub(self.created_ms);
        let secs = i64::try_from(timing.pending_secs).unwrap_or(i64::MAX);
        self.polls > timing.pending_polls && waited_ms >= secs.saturating_mul(1000)
    }

    /// File name of the download (`<tenant>.json.gz` / `.csv.gz`).
    pub(crate) fn file_name(&self, tenant: &str) -> String {
        format!("{tenant}.{}.gz", self.format.as_str())
    }

    /// The job object as `POST /api/v2/jobs/users-exports` and `GET /api/v2/jobs/{id}`
    /// answer it; `location` is the download URL once completed.
    pub(crate) fn to_json(&self, location: Option<&str>) -> Value {
        let status = match self.state {
            JobState::Pending => "pending",
            JobState::Completed { .. } => "completed",
            JobState::Failed => "failed",
        };
        let mut v = json!({
            "type": "users_export", "status": status, "id": self.id,
            "format": self.format.as_str(), "fields": self.fields,
            "created_at": iso_ms(self.created_ms),
        });
        if let Some((id, name)) = &self.connection {
            v["connection_id"] = json!(id);
            v["connection"] = json!(name);
        }
        if let Some(l) = self.limit {
            v["limit"] = json!(l);
        }
        if let (Some(loc), JobState::Completed { .. }) = (location, &self.state) {
            v["location"] = json!(loc);
        }
        v
    }

    /// Renders the export of `users` (each a full user object) and gzips it.
    pub(crate) fn render(&self, users: impl Iterator<Item = Value>) -> std::io::Result<Vec<u8>> {
        let take = self
            .limit
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(usize::MAX);
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        if self.format == ExportFormat::Csv {
            let header: Vec<String> = self.fields.iter().map(|f| csv_cell(f.column())).collect();
            writeln!(gz, "{}", header.join(","))?;
        }
        for user in users.take(take) {
            match self.format {
                ExportFormat::Json => {
                    let mut line = Map::new();
                    for f in &self.fields {
                        if let Some(v) = lookup(&user, &f.name) {
                            line.insert(f.column().to_string(), v.clone());
                        }
                    }
                    writeln!(gz, "{}", Value::Object(line))?;
                }
                ExportFormat::Csv => {
                    let cells: Vec<String> = self
                        .fields
                        .iter()
                        .map(|f| match lookup(&user, &f.name) {
                            None | Some(Value::Null) => String::new(),
                            Some(Value::String(s)) => csv_cell(s),
                            Some(other) => csv_cell(&other.to_string()),
                        })
                        .collect();
                    writeln!(gz, "{}", cells.join(","))?;
                }
            }
        }
        gz.finish()
    }
}

/// Follows a dotted path with optional `[index]` steps (`identities[0].connection`).
pub(crate) fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path.split('.') {
        let (key, mut rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let idx: usize = r[..end].parse().ok()?;
            cur = cur.get(idx)?;
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(cur)
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn gunzip(b: &[u8]) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(b)
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn paths_reach_into_arrays_and_objects() {
        let u = json!({"identities": [{"connection": "db"}], "app_metadata": {"plan": "pro"}});
        assert_eq!(lookup(&u, "identities[0].connection"), Some(&json!("db")));
        assert_eq!(lookup(&u, "app_metadata.plan"), Some(&json!("pro")));
        assert_eq!(lookup(&u, "identities[1].connection"), None);
        assert_eq!(lookup(&u, "identities[x]"), None);
    }

    #[test]
    fn csv_quotes_cells_and_names_columns_by_export_as() {
        let fields = vec![
            ExportField {
                name: "name".into(),
                export_as: Some("full name".into()),
            },
            ExportField {
                name: "logins_count".into(),
                export_as: None,
            },
        ];
        let job = ExportJob::new(
            "job_1".into(),
            ExportFormat::Csv,
            None,
            None,
            Some(fields),
            0,
            false,
        );
        let file = job
            .render([json!({"name": "Q, \"Dana\"", "logins_count": 3})].into_iter())
            .unwrap();
        assert_eq!(
            gunzip(&file),
            "full name,logins_count\n\"Q, \"\"Dana\"\"\",3\n"
        );
    }
}
