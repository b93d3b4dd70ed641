//! Plans for people: a table per destination for the terminal, Markdown for pull requests.
//! Unchanged objects are collapsed to a count; every change is listed with its reason.

use std::fmt::Write as _;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

use crate::plan::{Action, ActionKind, Plan, Summary};

/// GitHub refuses comments longer than 65,536 characters; stay below with room to spare.
const MARKDOWN_BUDGET: usize = 65_000;

/// The stable, parseable summary line. Releases with databases also count restores.
pub fn summary_line(summary: &Summary) -> String {
    summary_with(summary, false)
}

fn plan_summary(plan: &Plan) -> String {
    summary_with(&plan.summary, !plan.databases.is_empty())
}

fn summary_with(summary: &Summary, databases: bool) -> String {
    let restores = if databases {
        let s = if summary.restore == 1 { "" } else { "s" };
        format!(", {} database{s} to restore", summary.restore)
    } else {
        String::new()
    };
    format!(
        "Plan: {} to upload ({}), {} to replace, {} to delete{restores}; {} unchanged.",
        summary.create,
        human_bytes(summary.create_bytes + summary.replace_bytes),
        summary.replace,
        summary.delete,
        summary.unchanged
    )
}

/// The database restores as a table, when the plan has any.
fn databases_table(plan: &Plan) -> Option<Table> {
    if plan.databases.is_empty() {
        return None;
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["", "instance / database", "backup", "reason"]);
    for database in &plan.databases {
        table.add_row(vec![
            database.kind.symbol().to_string(),
            format!("{} / {}", database.instance, database.database),
            backup_facts(database),
            database.reason.clone(),
        ]);
    }
    Some(table)
}

/// What the backup's headers say, in one cell.
fn backup_facts(database: &crate::plan::DatabaseAction) -> String {
    let size: u64 = database.backup.iter().map(|b| b.size).sum();
    let first = database.backup.first();
    let mut facts = vec![human_bytes(size)];
    if database.backup.len() > 1 {
        facts.push(format!("{} stripes", database.backup.len()));
    }
    if let Some(first) = first {
        facts.push(first.kind.clone());
        if first.compressed {
            facts.push("compressed".into());
        }
        if let Some(version) = &first.software_version {
            facts.push(format!("SQL Server {version}"));
        }
        if let Some(written) = &first.written_at {
            facts.push(format!("written {written}"));
        }
    }
    facts.join(", ")
}

/// A second line when policy stops part of the plan, else nothing.
pub fn stopped_line(summary: &Summary) -> Option<String> {
    let mut parts = Vec::new();
    if summary.conflict > 0 {
        parts.push(format!("{} conflict{}", summary.conflict, plural(summary.conflict)));
    }
    if summary.blocked > 0 {
        parts.push(format!("{} blocked", summary.blocked));
    }
    (!parts.is_empty())
        .then(|| format!("Not applied: {} (the `!` rows say why).", parts.join(", ")))
}

/// The plan as terminal tables.
pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    for (name, actions) in by_destination(plan) {
        let (bucket, prefix) = location(plan, name);
        let _ = writeln!(out, "{name} → s3://{bucket}/{prefix}");
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(vec!["", "key", "size", "reason"]);
        let mut unchanged = 0;
        for action in actions {
            if action.kind == ActionKind::Unchanged {
                unchanged += 1;
                continue;
            }
            table.add_row(vec![
                action.kind.symbol().to_string(),
                action.key.strip_prefix(prefix).unwrap_or(&action.key).to_owned(),
                size_of(action),
                action.reason.clone(),
            ]);
        }
        if table.row_count() > 0 {
            let _ = writeln!(out, "{table}");
        }
        if unchanged > 0 {
            let _ = writeln!(out, "= {unchanged} unchanged");
        }
        out.push('\n');
    }
    // The summary line comes last: scripts read the plan's last line.
    if let Some(line) = stopped_line(&plan.summary) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(table) = databases_table(plan) {
        let _ = writeln!(out, "databases\n{table}\n");
    }
    let _ = writeln!(out, "{}", plan_summary(plan));
    out
}

/// The plan as Markdown for a review comment, summary first, within GitHub's size limit.
pub fn markdown(plan: &Plan) -> String {
    let mut out = format!("**{}**\n", plan_summary(plan));
    if let Some(line) = stopped_line(&plan.summary) {
        let _ = writeln!(out, "\n{line}");
    }
    let _ = writeln!(
        out,
        "\nRelease `{}` to account `{}`, manifest `{}` at {}.\n",
        plan.release,
        plan.account_id,
        plan.manifest.path,
        match &plan.manifest.git_commit {
            Some(commit) if plan.manifest.git_dirty == Some(true) => {
                format!("`{}` with uncommitted changes", short(commit))
            }
            Some(commit) => format!("`{}`", short(commit)),
            None => "no git commit".to_owned(),
        }
    );
    let mut left_out = 0;
    for (name, actions) in by_destination(plan) {
        let (bucket, prefix) = location(plan, name);
        let _ = writeln!(out, "### `{name}` → `s3://{bucket}/{prefix}`\n");
        let changes: Vec<&Action> =
            actions.iter().copied().filter(|a| a.kind != ActionKind::Unchanged).collect();
        let unchanged = actions.len() - changes.len();
        if !changes.is_empty() {
            out.push_str("| | key | size | reason |\n|---|---|---|---|\n");
        }
        for action in changes {
            let key = action.key.strip_prefix(prefix).unwrap_or(&action.key);
            let row = format!(
                "| `{}` | `{}` | {} | {} |\n",
                action.kind.symbol(),
                key.replace('`', "'"),
                size_of(action),
                action.reason.replace('|', "\\|")
            );
            if out.len() + row.len() > MARKDOWN_BUDGET - 200 {
                left_out += 1;
                continue;
            }
            out.push_str(&row);
        }
        if unchanged > 0 {
            let _ = writeln!(out, "\n{unchanged} unchanged.");
        }
        out.push('\n');
    }
    if !plan.databases.is_empty() {
        out.push_str(
            "### Databases\n\n| | instance / database | backup | reason |\n|---|---|---|---|\n",
        );
        for database in &plan.databases {
            let _ = writeln!(
                out,
                "| `{}` | `{}` / `{}` | {} | {} |",
                database.kind.symbol(),
                database.instance,
                database.database,
                backup_facts(database),
                database.reason.replace('|', "\\|")
            );
        }
        out.push('\n');
    }
    if left_out > 0 {
        let _ = writeln!(
            out,
            "…and {left_out} more change{} not shown here; `release show PLAN` lists them all.",
            plural(left_out)
        );
    }
    out
}

fn by_destination(plan: &Plan) -> Vec<(&str, Vec<&Action>)> {
    let mut groups: Vec<(&str, Vec<&Action>)> = Vec::new();
    for action in &plan.actions {
        match groups.last_mut() {
            Some((name, actions)) if *name == action.destination => actions.push(action),
            _ => groups.push((&action.destination, vec![action])),
        }
    }
    groups
}

fn location<'a>(plan: &'a Plan, destination: &str) -> (&'a str, &'a str) {
    plan.destinations
        .get(destination)
        .map(|d| (d.bucket.as_str(), d.prefix.as_str()))
        .unwrap_or(("?", ""))
}

fn size_of(action: &Action) -> String {
    let size = action.local.as_ref().map(|l| l.size).or(action.remote.as_ref().map(|r| r.size));
    size.map(human_bytes).unwrap_or_default()
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Sizes in binary units with one decimal: `512 B`, `1.2 KiB`, `3.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1_288_490_189), "1.2 GiB");
    }

    #[test]
    fn summary_line_is_stable() {
        let summary = Summary {
            create: 12,
            create_bytes: 1_288_490_189,
            replace: 1,
            unchanged: 230,
            ..Summary::default()
        };
        let expected = "Plan: 12 to upload (1.2 GiB), 1 to replace, 0 to delete; 230 unchanged.";
        assert_eq!(summary_line(&summary), expected);
        assert_eq!(stopped_line(&summary), None);
    }
}
