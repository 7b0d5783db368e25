//! Turning a service and its tasks into progress messages: one updater per service mode,
//! as in docker/cli `progress.go`. Pure: the caller fetches, these decide.

use super::display::Msg;
use crate::values::{get, i64_at, str_at, u64_at};
use anyhow::bail;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// Progress bars are drawn for at most this many slots or nodes.
const MAX_PROGRESS_BARS: u64 = 20;
/// A running task fills its bar (states are numbered 1..=9 up to `running`).
const MAX_PROGRESS: i64 = 9;
const MAX_JOB_PROGRESS: i64 = 10;
/// Width of the longest non-terminal state name (`preparing`, `allocated`).
const LONGEST_STATE: usize = 9;
/// docker cuts task errors to this many characters in progress lines.
const MAX_ERR_WIDTH: usize = 75;

/// docker's `numberedStates`; 0 for states it does not know (such tasks are skipped).
pub fn state_number(state: &str) -> i64 {
    match state {
        "new" => 1,
        "allocated" => 2,
        "pending" => 3,
        "assigned" => 4,
        "accepted" => 5,
        "preparing" => 6,
        "ready" => 7,
        "starting" => 8,
        "running" => 9,
        "complete" => 10,
        "shutdown" => 11,
        "failed" => 12,
        "rejected" => 13,
        _ => 0,
    }
}

fn terminal(state: &str) -> bool {
    state_number(state) > state_number("running")
}

fn trunc_error(err: &str) -> String {
    let e = err.replace('\n', " ");
    if e.len() > MAX_ERR_WIDTH {
        let mut cut = MAX_ERR_WIDTH - 1;
        while !e.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &e[..cut])
    } else {
        e
    }
}

fn overall(rollback: bool, n: u64, d: u64) -> Msg {
    if rollback {
        Msg::progress(
            "overall progress",
            &format!("rolling back update: {n} out of {d} tasks"),
            0,
            0,
        )
    } else {
        Msg::progress("overall progress", &format!("{n} out of {d} tasks"), 0, 0)
    }
}

/// The per-mode state kept across polls.
#[derive(Debug)]
pub enum Updater {
    Replicated {
        slot_map: BTreeMap<i64, u64>,
        initialized: bool,
        done: bool,
    },
    Global {
        initialized: bool,
        done: bool,
    },
    ReplicatedJob {
        iteration: u64,
        concurrent: u64,
        total: u64,
        initialized: bool,
    },
    GlobalJob {
        initialized: bool,
        total: u64,
        nodes: HashSet<String>,
    },
}

impl Updater {
    /// Picks the updater for the service's mode, as docker's `initializeUpdater`.
    pub fn for_service(service: &Value) -> anyhow::Result<Self> {
        let mode = get(service, &["Spec", "Mode"])
            .cloned()
            .unwrap_or(Value::Null);
        if get(&mode, &["Replicated", "Replicas"]).is_some_and(|r| !r.is_null()) {
            return Ok(Updater::Replicated {
                slot_map: BTreeMap::new(),
                initialized: false,
                done: false,
            });
        }
        if get(&mode, &["Global"]).is_some_and(|g| !g.is_null()) {
            return Ok(Updater::Global {
                initialized: false,
                done: false,
            });
        }
        if let Some(job) = get(&mode, &["ReplicatedJob"]).filter(|j| !j.is_null()) {
            let concurrent = u64_at(job, &["MaxConcurrent"]).max(1);
            let total = match u64_at(job, &["TotalCompletions"]) {
                0 => concurrent,
                t => t,
            };
            let iteration = u64_at(service, &["JobStatus", "JobIteration", "Index"]);
            return Ok(Updater::ReplicatedJob {
                iteration,
                concurrent,
                total,
                initialized: false,
            });
        }
        if get(&mode, &["GlobalJob"]).is_some_and(|g| !g.is_null()) {
            return Ok(Updater::GlobalJob {
                initialized: false,
                total: 0,
                nodes: HashSet::new(),
            });
        }
        if get(&mode, &["Replicated"]).is_some_and(|r| !r.is_null()) {
            bail!("no replica count");
        }
        bail!("unrecognized service mode")
    }

    /// Adds this poll's messages to `out`; returns whether the service has converged.
    pub fn update(
        &mut self,
        service: &Value,
        tasks: &[Value],
        active: &HashSet<String>,
        rollback: bool,
        out: &mut Vec<Msg>,
    ) -> anyhow::Result<bool> {
        match self {
            Updater::Replicated {
                slot_map,
                initialized,
                done,
            } => {
                let Some(replicas) = get(service, &["Spec", "Mode", "Replicated", "Replicas"])
                    .and_then(Value::as_u64)
                else {
                    bail!("no replica count");
                };
                if !*initialized {
                    out.push(overall(rollback, 0, replicas));
                    if replicas <= MAX_PROGRESS_BARS {
                        for i in 1..=replicas {
                            out.push(Msg::progress(&format!("{i}/{replicas}"), " ", 0, 0));
                        }
                    }
                    *initialized = true;
                }
                let by_slot = best_per_key(
                    tasks,
                    |t| i64_at(t, &["Slot"]).to_string(),
                    |t| {
                        let node = str_at(t, &["NodeID"]);
                        node.is_empty() || active.contains(node)
                    },
                );
                if *done
                    && by_slot
                        .values()
                        .any(|t| str_at(t, &["Status", "State"]) != "running")
                {
                    *done = false;
                }
                let mut running = 0;
                let mut slots: Vec<&Value> = by_slot.values().copied().collect();
                slots.sort_by_key(|t| i64_at(t, &["Slot"]));
                for t in slots {
                    let next = slot_map.len() as u64 + 1;
                    let mapped = *slot_map.entry(i64_at(t, &["Slot"])).or_insert(next);
                    if !terminal(str_at(t, &["DesiredState"]))
                        && str_at(t, &["Status", "State"]) == "running"
                    {
                        running += 1;
                    }
                    if !*done && replicas <= MAX_PROGRESS_BARS && mapped <= replicas {
                        task_progress(t, &format!("{mapped}/{replicas}"), MAX_PROGRESS, out);
                    }
                }
                if !*done {
                    out.push(overall(rollback, running, replicas));
                    if running == replicas {
                        *done = true;
                    }
                }
                Ok(running == replicas)
            }
            Updater::Global { initialized, done } => {
                let by_node = best_per_key(tasks, |t| str_at(t, &["NodeID"]).to_string(), |_| true);
                let count = by_node.len() as u64;
                if !*initialized {
                    if count == 0 {
                        out.push(Msg::progress(
                            "overall progress",
                            "waiting for new tasks",
                            0,
                            0,
                        ));
                        return Ok(false);
                    }
                    out.push(overall(rollback, 0, count));
                    *initialized = true;
                }
                if *done
                    && by_node
                        .values()
                        .any(|t| str_at(t, &["Status", "State"]) != "running")
                {
                    *done = false;
                }
                let mut running = 0;
                for (node, t) in &by_node {
                    if !active.contains(node) {
                        continue;
                    }
                    if !terminal(str_at(t, &["DesiredState"]))
                        && str_at(t, &["Status", "State"]) == "running"
                    {
                        running += 1;
                    }
                    if !*done && count <= MAX_PROGRESS_BARS {
                        task_progress(t, &crate::format::truncate_id(node), MAX_PROGRESS, out);
                    }
                }
                if !*done {
                    out.push(overall(rollback, running, count));
                    if running == count {
                        *done = true;
                    }
                }
                Ok(running == count)
            }
            Updater::ReplicatedJob {
                iteration,
                concurrent,
                total,
                initialized,
            } => {
                if !*initialized {
                    job_overall(0, 0, *total, Some(*concurrent), out);
                    if *total <= MAX_PROGRESS_BARS {
                        for i in 1..=*total {
                            out.push(Msg::progress(&format!("{i}/{total}"), " ", 0, 0));
                        }
                    }
                    *initialized = true;
                }
                let mut by_slot: BTreeMap<i64, &Value> = BTreeMap::new();
                for t in tasks
                    .iter()
                    .filter(|t| in_iteration(t, *iteration) && known(t))
                {
                    let slot = i64_at(t, &["Slot"]);
                    let replace = by_slot.get(&slot).is_none_or(|e| {
                        state_number(str_at(e, &["Status", "State"]))
                            > state_number(str_at(t, &["Status", "State"]))
                    });
                    if replace {
                        by_slot.insert(slot, t);
                    }
                }
                let (mut active_n, mut complete) = (0u64, 0u64);
                for t in by_slot.values() {
                    if *total <= MAX_PROGRESS_BARS {
                        let id = format!("{}/{total}", i64_at(t, &["Slot"]) + 1);
                        task_progress(t, &id, MAX_JOB_PROGRESS, out);
                    }
                    let s = str_at(t, &["Status", "State"]);
                    if state_number(s) < state_number("complete") {
                        active_n += 1;
                    }
                    if s == "complete" {
                        complete += 1;
                    }
                }
                job_overall(active_n, complete, *total, Some(*concurrent), out);
                Ok(complete == *total)
            }
            Updater::GlobalJob {
                initialized,
                total,
                nodes,
            } => {
                let iteration = u64_at(service, &["JobStatus", "JobIteration", "Index"]);
                if !*initialized {
                    if tasks.is_empty() && !active.is_empty() {
                        out.push(Msg::progress("job progress", "waiting for tasks", 0, 0));
                        return Ok(false);
                    }
                    *nodes = tasks
                        .iter()
                        .filter(|t| in_iteration(t, iteration))
                        .map(|t| str_at(t, &["NodeID"]).to_string())
                        .collect();
                    *total = nodes.len() as u64;
                    job_overall(0, 0, *total, None, out);
                    *initialized = true;
                }
                let mut by_node: BTreeMap<String, &Value> = BTreeMap::new();
                for t in tasks.iter().filter(|t| in_iteration(t, iteration)) {
                    let node = str_at(t, &["NodeID"]).to_string();
                    if !nodes.contains(&node) {
                        continue;
                    }
                    let replace = by_node.get(&node).is_none_or(|e| {
                        state_number(str_at(e, &["Status", "State"]))
                            > state_number(str_at(t, &["Status", "State"]))
                    });
                    if replace {
                        by_node.insert(node, t);
                    }
                }
                let mut complete = 0;
                for (node, t) in &by_node {
                    if *total <= MAX_PROGRESS_BARS {
                        task_progress(t, node, MAX_JOB_PROGRESS, out);
                    }
                    if str_at(t, &["Status", "State"]) == "complete" {
                        complete += 1;
                    }
                }
                job_overall(0, complete, *total, None, out);
                Ok(complete == *total)
            }
        }
    }
}

fn known(t: &Value) -> bool {
    state_number(str_at(t, &["DesiredState"])) != 0
        && state_number(str_at(t, &["Status", "State"])) != 0
}

fn in_iteration(t: &Value, iteration: u64) -> bool {
    get(t, &["JobIteration"]).is_some_and(|j| !j.is_null())
        && u64_at(t, &["JobIteration", "Index"]) == iteration
}

/// Per key, the task with the lowest desired state, ties broken by the lowest observed
/// state (docker's `tasksBySlot`/`tasksByNode`); `keep` filters tasks out first.
fn best_per_key(
    tasks: &[Value],
    key: impl Fn(&Value) -> String,
    keep: impl Fn(&Value) -> bool,
) -> BTreeMap<String, &Value> {
    let mut out: BTreeMap<String, &Value> = BTreeMap::new();
    for t in tasks.iter().filter(|t| known(t)) {
        let k = key(t);
        if let Some(e) = out.get(&k) {
            let (ed, td) = (
                state_number(str_at(e, &["DesiredState"])),
                state_number(str_at(t, &["DesiredState"])),
            );
            if ed < td {
                continue;
            }
            if ed == td
                && state_number(str_at(e, &["Status", "State"]))
                    <= state_number(str_at(t, &["Status", "State"]))
            {
                continue;
            }
        }
        if !keep(t) {
            continue;
        }
        out.insert(k, t);
    }
    out
}

/// One task's line: its error, or its state with a bar (non-terminal tasks only, except for
/// jobs, whose `complete` state is shown too).
fn task_progress(t: &Value, id: &str, max: i64, out: &mut Vec<Msg>) {
    let err = str_at(t, &["Status", "Err"]);
    if !err.is_empty() {
        out.push(Msg::progress(id, &trunc_error(err), 0, 0));
        return;
    }
    let state = str_at(t, &["Status", "State"]);
    let show = if max == MAX_JOB_PROGRESS {
        true
    } else {
        !terminal(str_at(t, &["DesiredState"])) && !terminal(state)
    };
    if show {
        out.push(Msg::progress(
            id,
            &format!("{state:<LONGEST_STATE$}"),
            state_number(state),
            max,
        ));
    }
}

fn job_overall(
    active: u64,
    completed: u64,
    total: u64,
    concurrent: Option<u64>,
    out: &mut Vec<Msg>,
) {
    let digits = total.to_string().len();
    out.push(Msg::progress(
        "job progress",
        &format!("{completed:>digits$} out of {total} complete"),
        completed as i64,
        total as i64,
    ));
    if let Some(concurrent) = concurrent {
        let adigits = concurrent.to_string().len();
        let desired = (total - completed.min(total)).min(concurrent);
        out.push(Msg::progress(
            "active tasks",
            &format!("{active:>adigits$} out of {desired:>adigits$} tasks"),
            0,
            0,
        ));
    }
}

#[cfg(test)]
#[path = "updaters_tests.rs"]
mod tests;
