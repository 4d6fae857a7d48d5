//! The step DAG: cycle detection for validation and rendering for `techpack graph`.

use std::fmt::Write;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::{StepDef, Workflow};

/// Output formats of `techpack graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

/// A graph whose edges point from a step to each step it needs.
fn needs_graph(steps: &[StepDef]) -> DiGraph<usize, ()> {
    let mut graph = DiGraph::with_capacity(steps.len(), steps.len());
    for i in 0..steps.len() {
        graph.add_node(i);
    }
    for (i, step) in steps.iter().enumerate() {
        for &need in &step.needs {
            graph.add_edge(NodeIndex::new(i), NodeIndex::new(need), ());
        }
    }
    graph
}

/// Every cycle, one per strongly connected component, as the chain of step indexes starting
/// at the component's first step in file order (`a` needs `b` needs … needs `a`).
pub fn cycles(steps: &[StepDef]) -> Vec<Vec<usize>> {
    let graph = needs_graph(steps);
    let mut found = Vec::new();
    for component in tarjan_scc(&graph) {
        let self_loop = component.len() == 1
            && steps[component[0].index()]
                .needs
                .contains(&component[0].index());
        if component.len() < 2 && !self_loop {
            continue;
        }
        let members: Vec<usize> = component.iter().map(|n| n.index()).collect();
        let start = *members.iter().min().expect("non-empty component");
        found.push(chain_back_to(start, &members, steps));
    }
    found.sort();
    found
}

/// A path from `start` along `needs` edges inside `members` that returns to `start`.
fn chain_back_to(start: usize, members: &[usize], steps: &[StepDef]) -> Vec<usize> {
    let mut path = vec![start];
    let mut visited = vec![start];
    fn walk(
        at: usize,
        start: usize,
        members: &[usize],
        steps: &[StepDef],
        path: &mut Vec<usize>,
        visited: &mut Vec<usize>,
    ) -> bool {
        for &next in &steps[at].needs {
            if next == start {
                return true;
            }
            if members.contains(&next) && !visited.contains(&next) {
                visited.push(next);
                path.push(next);
                if walk(next, start, members, steps, path, visited) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    walk(start, start, members, steps, &mut path, &mut visited);
    path
}

pub fn render(workflow: &Workflow, format: GraphFormat) -> String {
    let mut out = String::new();
    match format {
        GraphFormat::Mermaid => {
            out.push_str("flowchart TD\n");
            for step in &workflow.steps {
                let mut label = format!("{}<br/><small>{}</small>", step.id, step.uses);
                if step.credits > 0 {
                    let _ = write!(label, "<br/><small>{} credits</small>", step.credits);
                }
                if step.when.is_some() {
                    label.push_str("<br/><small>conditional</small>");
                }
                let _ = writeln!(out, "  {}[\"{}\"]", step.id, label.replace('"', "#quot;"));
            }
            for step in &workflow.steps {
                for &need in &step.needs {
                    let _ = writeln!(out, "  {} --> {}", workflow.steps[need].id, step.id);
                }
            }
        }
        GraphFormat::Dot => {
            let _ = writeln!(out, "digraph {} {{", quote(&workflow.name));
            out.push_str("  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
            for step in &workflow.steps {
                let mut label = format!("{}\n{}", step.id, step.uses);
                if step.credits > 0 {
                    let _ = write!(label, "\n{} credits", step.credits);
                }
                let style = if step.when.is_some() {
                    ", style=dashed"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "  {} [label={}{style}];",
                    quote(&step.id),
                    quote(&label)
                );
            }
            for step in &workflow.steps {
                for &need in &step.needs {
                    let _ = writeln!(
                        out,
                        "  {} -> {};",
                        quote(&workflow.steps[need].id),
                        quote(&step.id)
                    );
                }
            }
            out.push_str("}\n");
        }
    }
    out
}

fn quote(text: &str) -> String {
    format!(
        "\"{}\"",
        text.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}
