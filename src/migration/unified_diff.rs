//! A line diff printed as `diff -u` prints it: the divergence records' diffs. A shortest edit
//! script (Myers' algorithm, after the common head and tail are set aside), grouped into hunks
//! with three lines of context. Small on purpose: it keeps a diff library out of the upload.

use std::fmt::Write;

/// Lines of context around each change.
const CONTEXT: usize = 3;
/// Past this many differing lines the script stops looking for common ones in between and
/// replaces the middle whole: a diff stays cheap (its walk-back keeps O(edits²) numbers)
/// however unlike the two texts are.
const MAX_EDITS: usize = 1_000;

/// One line of the edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Same,
    Delete,
    Insert,
}

/// The unified diff from `old` to `new` (line by line, each line with its `\n`), headed
/// `--- old_name` and `+++ new_name`; empty when the texts are equal.
pub(crate) fn unified(old_name: &str, new_name: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = edit_script(&a, &b);
    let mut out = String::new();
    for (i, hunk) in hunks(&ops).into_iter().enumerate() {
        if i == 0 {
            let _ = write!(out, "--- {old_name}\n+++ {new_name}\n");
        }
        print_hunk(
            &mut out,
            &ops[hunk.ops.clone()],
            hunk.old_start,
            hunk.new_start,
            &a,
            &b,
        );
    }
    out
}

/// The edit script turning `a` into `b`, shortest where it stays under [`MAX_EDITS`].
fn edit_script(a: &[&str], b: &[&str]) -> Vec<Op> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut ops = vec![Op::Same; head];
    ops.extend(middle(&a[head..a.len() - tail], &b[head..b.len() - tail]));
    ops.extend(std::iter::repeat_n(Op::Same, tail));
    ops
}

/// Myers' greedy shortest edit script, with the furthest point of each diagonal the round
/// could read kept per round for the walk back.
fn middle(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let offset = n + m + 1;
    let mut v = vec![0isize; (2 * offset + 1) as usize];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    for d in 0..=(n + m) {
        if d as usize > MAX_EDITS {
            break;
        }
        trace.push(v[(offset - d - 1).max(0) as usize..=(offset + d + 1) as usize].to_vec());
        for k in (-d..=d).step_by(2) {
            let at = |k: isize| (k + offset) as usize;
            let mut x = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
                v[at(k + 1)]
            } else {
                v[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[at(k)] = x;
            if x >= n && y >= m {
                return walk_back(&trace, n, m, offset);
            }
        }
    }
    // Too unlike: everything old goes, everything new comes.
    let mut ops = vec![Op::Delete; a.len()];
    ops.extend(std::iter::repeat_n(Op::Insert, b.len()));
    ops
}

/// The script from the rounds' furthest points, from the end back to the start. Round `d`
/// kept the diagonals `-d - 1..=d + 1`.
fn walk_back(trace: &[Vec<isize>], n: isize, m: isize, offset: isize) -> Vec<Op> {
    let (mut x, mut y) = (n, m);
    let mut ops = Vec::new();
    for (d, v) in trace.iter().enumerate().rev() {
        let d = d as isize;
        let at = |k: isize| (k + d + 1 - (d + 1 - offset).max(0)) as usize;
        let k = x - y;
        let prev_k = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = v[at(prev_k)];
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Same);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            ops.push(if x == prev_x { Op::Insert } else { Op::Delete });
        }
        (x, y) = (prev_x, prev_y);
    }
    ops.reverse();
    ops
}

/// One hunk: a range of the script and the old and new line it starts at (0-based).
struct Hunk {
    ops: std::ops::Range<usize>,
    old_start: usize,
    new_start: usize,
}

/// The script's changes with [`CONTEXT`] lines around each; changes closer than twice that
/// share a hunk.
fn hunks(ops: &[Op]) -> Vec<Hunk> {
    let changes: Vec<usize> = (0..ops.len()).filter(|i| ops[*i] != Op::Same).collect();
    let mut hunks: Vec<std::ops::Range<usize>> = Vec::new();
    for i in changes {
        let range = i.saturating_sub(CONTEXT)..(i + 1 + CONTEXT).min(ops.len());
        match hunks.last_mut() {
            Some(last) if range.start <= last.end => last.end = range.end,
            _ => hunks.push(range),
        }
    }
    hunks
        .into_iter()
        .map(|range| {
            let before = &ops[..range.start];
            Hunk {
                old_start: before.iter().filter(|op| **op != Op::Insert).count(),
                new_start: before.iter().filter(|op| **op != Op::Delete).count(),
                ops: range,
            }
        })
        .collect()
}

/// Prints one hunk: its header, then each line marked ` `, `-` or `+`.
fn print_hunk(
    out: &mut String,
    ops: &[Op],
    old_start: usize,
    new_start: usize,
    a: &[&str],
    b: &[&str],
) {
    let old_len = ops.iter().filter(|op| **op != Op::Insert).count();
    let new_len = ops.iter().filter(|op| **op != Op::Delete).count();
    let _ = writeln!(
        out,
        "@@ -{} +{} @@",
        range(old_start, old_len),
        range(new_start, new_len)
    );
    let (mut x, mut y) = (old_start, new_start);
    for op in ops {
        let line = match op {
            Op::Same => {
                x += 1;
                y += 1;
                format!(" {}", a[x - 1])
            }
            Op::Delete => {
                x += 1;
                format!("-{}", a[x - 1])
            }
            Op::Insert => {
                y += 1;
                format!("+{}", b[y - 1])
            }
        };
        out.push_str(&line);
        if !line.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
}

/// A hunk range as `diff -u` writes it: `start,len` (1-based), `start` alone for one line, and
/// the line before for none.
fn range(start: usize, len: usize) -> String {
    match len {
        1 => format!("{}", start + 1),
        0 => format!("{start},0"),
        _ => format!("{},{len}", start + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn similar(a: &str, b: &str) -> String {
        similar::TextDiff::from_lines(a, b)
            .unified_diff()
            .header("d1", "kv")
            .to_string()
    }

    #[test]
    fn texts_too_unlike_are_replaced_whole_in_the_middle() {
        let a: String = (0..3_000).map(|i| format!("a{i}\n")).collect();
        let b: String = (0..3_000).map(|i| format!("b{i}\n")).collect();
        let diff = unified("d1", "kv", &a, &b);
        assert_eq!(apply(&a, &diff), b);
        assert!(diff.starts_with("--- d1\n+++ kv\n@@ -1,3000 +1,3000 @@\n-a0\n"));
    }

    #[test]
    fn prints_what_diff_u_prints() {
        let cases = [
            (
                "{\n  \"ticker\": \"SPY\"\n}\n",
                "{\n  \"ticker\": \"QQQ\"\n}\n",
            ),
            ("<missing>\n", "[\n  \"SPY\"\n]\n"),
            (
                "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n",
                "a\nb\nX\nd\ne\nf\ng\nh\ni\nY\nk\n",
            ),
            (
                "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
                "1\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n",
            ),
            ("same\n", "same\n"),
            ("", "new\n"),
            ("old\n", ""),
        ];
        for (a, b) in cases {
            assert_eq!(unified("d1", "kv", a, b), similar(a, b), "{a:?} → {b:?}");
        }
    }

    /// Turns `old` into the new text by the hunks of `diff`.
    fn apply(old: &str, diff: &str) -> String {
        let old: Vec<&str> = old.split_inclusive('\n').collect();
        let mut out = String::new();
        let mut at = 0;
        for line in diff.split_inclusive('\n').skip(2) {
            if let Some(header) = line.strip_prefix("@@ -") {
                let start: usize = header.split([',', ' ']).next().unwrap().parse().unwrap();
                let start = if header.split(' ').next().unwrap().ends_with(",0") {
                    start
                } else {
                    start - 1
                };
                while at < start {
                    out.push_str(old[at]);
                    at += 1;
                }
            } else if let Some(kept) = line.strip_prefix(' ') {
                out.push_str(kept);
                at += 1;
            } else if line.starts_with('-') {
                at += 1;
            } else if let Some(added) = line.strip_prefix('+') {
                out.push_str(added);
            }
        }
        old[at..].iter().for_each(|line| out.push_str(line));
        out
    }

    fn lines() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!["a\n", "b\n", "c\n", "{\n", "}\n"]),
            0..30,
        )
        .prop_map(|lines| lines.concat())
    }

    proptest! {
        /// The diff turns the old text into the new one, and changes as few lines as the
        /// `similar` crate's does (both are shortest edit scripts).
        #[test]
        fn a_diff_is_a_shortest_patch(a in lines(), b in lines()) {
            let ours = unified("d1", "kv", &a, &b);
            prop_assert_eq!(apply(&a, &ours), b.clone());
            let changed = |diff: &str| {
                diff.lines().skip(2).filter(|l| l.starts_with('-') || l.starts_with('+')).count()
            };
            prop_assert_eq!(changed(&ours), changed(&similar(&a, &b)));
            prop_assert_eq!(ours.is_empty(), a == b);
        }
    }
}
