//! "Did you mean …?": the closest of the known values to what was typed.

/// The candidate closest to `typed`, when it is close enough to be a typo: at most one edit
/// (a letter added, dropped, changed, or two neighbours swapped) per three letters.
pub(crate) fn closest<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let typed: Vec<char> = typed.to_lowercase().chars().collect();
    let allowed = (typed.len() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            (
                edits(&typed, &c.to_lowercase().chars().collect::<Vec<_>>()),
                c,
            )
        })
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance with transpositions (optimal string alignment): `wirte` is one edit from
/// `write`, as a person sees it.
fn edits(a: &[char], b: &[char]) -> usize {
    let mut before: Vec<usize> = Vec::new();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_what_was_meant_and_nothing_else() {
        let scopes = ["read", "write", "follow", "push", "admin:read"];
        assert_eq!(closest("wirte", scopes), Some("write"));
        assert_eq!(closest("raed", scopes), Some("read"));
        assert_eq!(closest("Puhs", scopes), Some("push"));
        assert_eq!(closest("admin:raed", scopes), Some("admin:read"));
        assert_eq!(closest("statuses", scopes), None);
        assert_eq!(closest("", scopes), None);
    }

    #[test]
    fn edits_count_a_swap_as_one() {
        let e = |a: &str, b: &str| {
            edits(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(e("wirte", "write"), 1);
        assert_eq!(e("kitten", "sitting"), 3);
        assert_eq!(e("", "abc"), 3);
        assert_eq!(e("same", "same"), 0);
    }
}
