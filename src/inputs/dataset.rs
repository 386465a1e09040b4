//! RecBole atomic files, in both shapes we meet:
//! - pre-split AgentCF style: `<name>.train.inter` / `.valid.inter` / `.test.inter` rows of
//!   `user_id  item_id_list  item_id`, a `<name>.random` line of candidate items per user, and an
//!   `.item` file with titles and categories;
//! - one `<name>.inter` with timestamps plus `<name>.item` (MovieLens-100K): split leave-one-out by
//!   time, negatives sampled with a seed.
//!
//! Every bad line is reported as `file:line: reason`.

use crate::engine::{ClientSpec, Scheduled, WorldSpec};
use crate::inputs::scenario::{sample_negative, CATEGORY_WEIGHT};
use crate::util::Rng;
use crate::world::event::ClientKind;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why a dataset cannot be loaded: each message names the file and line (`FILE:LINE: reason`) or
/// the folder at fault.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file or folder that could not be read: says which and what was being done.
    #[error("{what}")]
    Read { what: String, source: std::io::Error },
    /// Read, but not a dataset: names the file and line.
    #[error("{0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, DatasetError>;

/// `io_result.map_err(read(what))`: an I/O failure, saying what was being done.
fn read(what: String) -> impl FnOnce(std::io::Error) -> DatasetError {
    move |source| DatasetError::Read { what, source }
}

/// Return early with `DatasetError::Invalid` and a formatted message.
macro_rules! invalid {
    ($($arg:tt)*) => { return Err(DatasetError::Invalid(format!($($arg)*))) };
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemInfo {
    pub title: String,
    pub categories: Vec<String>,
}

/// One held-out case: the user's history before it, and the true next item.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalCase {
    pub user: String,
    pub history: Vec<String>,
    pub target: String,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub dir: PathBuf,
    pub users: Vec<String>,
    pub items: BTreeMap<String, ItemInfo>,
    /// Training interactions in time order.
    pub train: Vec<(String, String)>,
    /// The training interactions plus each user's validation interaction, in time order: what a
    /// model has seen when it is tested (the validation interaction happened before the test one).
    pub train_through_valid: Vec<(String, String)>,
    pub valid: Vec<EvalCase>,
    pub test: Vec<EvalCase>,
    /// Per user, an ordered list of candidate negatives (the `.random` line).
    pub negatives: BTreeMap<String, Vec<String>>,
    /// What was read but looks wrong, each naming its file and line: items the `.item` file lists
    /// twice or does not list (they are ranked without categories). Shown before the results.
    pub warnings: Vec<String>,
}

struct Table {
    path: String,
    columns: Vec<String>,
    /// (line number, fields)
    rows: Vec<(usize, Vec<String>)>,
}

fn read_table(path: &Path, header: bool) -> Result<Table> {
    let name = path.display().to_string();
    let bytes = crate::util::read_file_limited(path, crate::util::DATA_LIMIT).map_err(read(format!("{name}: cannot read")))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.contains('\u{FFFD}') && !bytes.is_empty() {
            invalid!("{name}:{line_no}: not valid UTF-8");
        }
        if header && i == 0 {
            columns = line.split('\t').map(|c| c.trim().to_string()).collect();
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<String> = line.split('\t').map(|f| f.to_string()).collect();
        if header && fields.len() != columns.len() {
            invalid!("{name}:{line_no}: expected {} tab-separated fields ({}), found {}", columns.len(), columns.join(", "), fields.len());
        }
        rows.push((line_no, fields));
    }
    if header && columns.is_empty() {
        invalid!("{name}:1: missing header line");
    }
    Ok(Table { path: name, columns, rows })
}

impl Table {
    /// Index of the column whose name (before `:`) is one of `names`.
    fn col(&self, names: &[&str]) -> Result<usize> {
        self.columns
            .iter()
            .position(|c| names.contains(&c.split(':').next().unwrap_or("")))
            .ok_or_else(|| DatasetError::Invalid(format!("{}:1: no column named {} (columns: {})", self.path, names.join(" or "), self.columns.join(", "))))
    }
}

fn check_id(path: &str, line: usize, what: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        invalid!("{path}:{line}: bad {what} {:?}", crate::util::text::sanitize(id, 40));
    }
    Ok(())
}

fn find_one(dir: &Path, suffix: &str) -> Result<Option<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read(format!("{}: cannot read dataset folder", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)))
        .collect();
    found.sort();
    Ok(found.into_iter().next())
}

fn read_items(path: &Path, warnings: &mut Vec<String>) -> Result<BTreeMap<String, ItemInfo>> {
    let t = read_table(path, true)?;
    let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
    let id = t.col(&["item_id"])?;
    let title = t.col(&["title", "movie_title"]).ok();
    let cats = t.col(&["category", "categories", "class", "genre"]).ok();
    let year = t.col(&["release_year", "year"]).ok();
    let mut items = BTreeMap::new();
    for (line, f) in &t.rows {
        check_id(&t.path, *line, "item id", &f[id])?;
        let categories: Vec<String> = match cats.map(|c| f[c].as_str()) {
            Some(s) if s.contains(';') => s.split(';').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
            Some(s) => s.split_whitespace().map(|x| x.to_string()).collect(),
            None => Vec::new(),
        };
        let mut categories = categories;
        // The decade is a preference people have (MovieLens): "1990s".
        if let Some(y) = year.and_then(|c| f[c].trim().parse::<u32>().ok()).filter(|y| (1800..2200).contains(y)) {
            categories.push(format!("{}s", y / 10 * 10));
        }
        if categories.len() > crate::world::MAX_ATTRS {
            invalid!(
                "{}:{line}: item {}: {} categories, more than the limit of {}",
                t.path,
                crate::util::text::sanitize(&f[id], 40),
                categories.len(),
                crate::world::MAX_ATTRS
            );
        }
        let title = title.map(|c| f[c].trim().to_string()).unwrap_or_default();
        if let Some(first) = first_line.insert(f[id].clone(), *line) {
            warnings.push(format!(
                "{}:{line}: item {} is listed again (first on line {first}); this row is used",
                t.path,
                crate::util::text::sanitize(&f[id], 40)
            ));
        }
        items.insert(f[id].clone(), ItemInfo { title, categories });
    }
    Ok(items)
}

/// A digest of every file in the dataset folder (names and bytes, in name order), recorded in a
/// session's header so that a fork notices a changed input.
pub fn digest(dir: &Path) -> Result<String> {
    use std::io::Read;
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(read(format!("{}: cannot read the folder", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut h = crate::util::fnv1a(b"recnet-dataset");
    let mut buf = vec![0u8; 1 << 16];
    for path in files {
        h = crate::util::fnv1a_extend(h, path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        h = crate::util::fnv1a_extend(h, b"\0");
        let mut f = std::fs::File::open(&path).map_err(read(format!("{}: cannot open", path.display())))?;
        loop {
            let n = f.read(&mut buf).map_err(read(format!("{}: read failed", path.display())))?;
            if n == 0 {
                break;
            }
            h = crate::util::fnv1a_extend(h, &buf[..n]);
        }
        h = crate::util::fnv1a_extend(h, b"\0");
    }
    Ok(format!("{h:016x}"))
}

pub fn load_dataset(dir: &Path, seed: u64) -> Result<Dataset> {
    if let Some(train) = find_one(dir, ".train.inter")? {
        load_presplit(dir, &train)
    } else if let Some(inter) = find_one(dir, ".inter")? {
        load_single(dir, &inter, seed)
    } else {
        invalid!("{}: no .train.inter or .inter file (RecBole atomic files expected)", dir.display())
    }
}

fn read_cases(path: &Path) -> Result<Vec<(usize, EvalCase)>> {
    let t = read_table(path, true)?;
    let u = t.col(&["user_id"])?;
    let h = t.col(&["item_id_list"])?;
    let i = t.col(&["item_id"])?;
    let mut out = Vec::new();
    for (line, f) in &t.rows {
        check_id(&t.path, *line, "user id", &f[u])?;
        check_id(&t.path, *line, "item id", &f[i])?;
        let history: Vec<String> = f[h].split_whitespace().map(|s| s.to_string()).collect();
        out.push((*line, EvalCase { user: f[u].clone(), history, target: f[i].clone() }));
    }
    Ok(out)
}

fn load_presplit(dir: &Path, train_path: &Path) -> Result<Dataset> {
    let file = train_path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = file.trim_end_matches(".train.inter").to_string();
    let sibling = |suffix: &str| dir.join(format!("{name}{suffix}"));
    let train_rows = read_cases(train_path)?;
    let (valid_path, test_path) = (sibling(".valid.inter"), sibling(".test.inter"));
    let valid_rows = read_cases(&valid_path)?;
    let test_rows = read_cases(&test_path)?;
    let random_path = sibling(".random");
    let mut negatives: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut random_lines: BTreeMap<String, usize> = BTreeMap::new();
    if random_path.exists() {
        let t = read_table(&random_path, false)?;
        for (line, f) in &t.rows {
            if f.len() < 2 {
                invalid!("{}:{line}: expected `user<TAB>item item …`", t.path);
            }
            check_id(&t.path, *line, "user id", &f[0])?;
            negatives.insert(f[0].clone(), f[1].split_whitespace().map(|s| s.to_string()).collect());
            random_lines.insert(f[0].clone(), *line);
        }
    }
    let item_path =
        find_one(dir, ".item")?.ok_or_else(|| DatasetError::Invalid(format!("{}: no .item file with item titles and categories", dir.display())))?;
    let mut warnings = Vec::new();
    let all_items = read_items(&item_path, &mut warnings)?;
    // An item the .item file does not list is ranked with no categories: said, not silent.
    let item_file = item_path.display().to_string();
    for (path, rows) in [(&valid_path, &valid_rows), (&test_path, &test_rows)] {
        let unknown: Vec<&(usize, EvalCase)> = rows.iter().filter(|(_, c)| !all_items.contains_key(&c.target)).collect();
        if let Some((line, c)) = unknown.first() {
            warnings.push(format!(
                "{}:{line}: target item {} is not in {item_file} (ranked without categories){}",
                path.display(),
                crate::util::text::sanitize(&c.target, 40),
                if unknown.len() > 1 { format!("; {} such rows", unknown.len()) } else { String::new() }
            ));
        }
    }
    let unknown_candidates: Vec<(&String, &String)> =
        negatives.iter().flat_map(|(u, list)| list.iter().filter(|i| !all_items.contains_key(*i)).map(move |i| (u, i))).collect();
    if let Some((u, i)) = unknown_candidates.first() {
        warnings.push(format!(
            "{}:{}: candidate item {} is not in {item_file} (ranked without categories); {} such candidates",
            random_path.display(),
            random_lines.get(*u).copied().unwrap_or(0),
            crate::util::text::sanitize(i, 40),
            unknown_candidates.len()
        ));
    }
    // A training item the .item file does not list trains with no categories: said too.
    let mut unlisted: BTreeSet<&String> = BTreeSet::new();
    let mut first_unlisted: Option<(usize, &String)> = None;
    for (line, c) in &train_rows {
        for i in c.history.iter().chain(std::iter::once(&c.target)).filter(|i| !all_items.contains_key(*i)) {
            first_unlisted.get_or_insert((*line, i));
            unlisted.insert(i);
        }
    }
    if let Some((line, i)) = first_unlisted {
        warnings.push(format!(
            "{}:{line}: training item {} is not in {item_file} (learned without categories); {} such items",
            train_path.display(),
            crate::util::text::sanitize(i, 40),
            unlisted.len()
        ));
    }
    let valid: Vec<EvalCase> = valid_rows.into_iter().map(|x| x.1).collect();
    let test: Vec<EvalCase> = test_rows.into_iter().map(|x| x.1).collect();
    // Time order: the training rows are each user's history in order; interleave users by
    // position in their history (all first interactions, then all second, …).
    let mut per_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (_, c) in &train_rows {
        let seq = per_user.entry(c.user.clone()).or_default();
        if seq.is_empty() {
            order.push(c.user.clone());
            // A user's first row lists the items before its target: they are history too (the
            // first of them appears in no other row).
            seq.extend(c.history.iter().cloned());
        }
        seq.push(c.target.clone());
    }
    let interleave = |per_user: &BTreeMap<String, Vec<String>>, order: &[String]| {
        let longest = per_user.values().map(|v| v.len()).max().unwrap_or(0);
        let mut out = Vec::new();
        for pos in 0..longest {
            for u in order {
                if let Some(i) = per_user.get(u).and_then(|seq| seq.get(pos)) {
                    out.push((u.clone(), i.clone()));
                }
            }
        }
        out
    };
    let train = interleave(&per_user, &order);
    let mut through_valid = per_user.clone();
    for c in &valid {
        if !through_valid.contains_key(&c.user) {
            order.push(c.user.clone());
        }
        through_valid.entry(c.user.clone()).or_default().push(c.target.clone());
    }
    let train_through_valid = interleave(&through_valid, &order);
    let mut users: BTreeSet<String> = per_user.keys().cloned().collect();
    users.extend(valid.iter().chain(&test).map(|c| c.user.clone()));
    let mut used: BTreeSet<&String> = train.iter().map(|x| &x.1).collect();
    for c in valid.iter().chain(&test) {
        used.insert(&c.target);
        used.extend(c.history.iter());
    }
    for list in negatives.values() {
        used.extend(list.iter());
    }
    let mut items = BTreeMap::new();
    for id in used {
        let info = all_items.get(id).cloned().unwrap_or(ItemInfo { title: String::new(), categories: Vec::new() });
        items.insert(id.clone(), info);
    }
    Ok(Dataset { name, dir: dir.to_path_buf(), users: users.into_iter().collect(), items, train, train_through_valid, valid, test, negatives, warnings })
}

fn load_single(dir: &Path, inter_path: &Path, seed: u64) -> Result<Dataset> {
    let file = inter_path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = file.trim_end_matches(".inter").to_string();
    let t = read_table(inter_path, true)?;
    let u = t.col(&["user_id"])?;
    let i = t.col(&["item_id"])?;
    let ts = t.col(&["timestamp"])?;
    let mut rows: Vec<(f64, usize, String, String)> = Vec::with_capacity(t.rows.len());
    for (line, f) in &t.rows {
        check_id(&t.path, *line, "user id", &f[u])?;
        check_id(&t.path, *line, "item id", &f[i])?;
        let time: f64 = f[ts]
            .trim()
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite())
            .ok_or_else(|| DatasetError::Invalid(format!("{}:{line}: timestamp {:?} is not a number", t.path, crate::util::text::sanitize(&f[ts], 30))))?;
        rows.push((time, *line, f[u].clone(), f[i].clone()));
    }
    // Time order; ties keep file order.
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut per_user: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (n, (_, _, user, item)) in rows.iter().enumerate() {
        per_user.entry(user.clone()).or_default().push((n, item.clone()));
    }
    let item_path = dir.join(format!("{name}.item"));
    let mut warnings = Vec::new();
    let all_items = if item_path.exists() { read_items(&item_path, &mut warnings)? } else { BTreeMap::new() };
    if item_path.exists() {
        // An item the .item file does not list is learned and ranked with no categories.
        let unlisted: BTreeSet<&String> = rows.iter().map(|r| &r.3).filter(|i| !all_items.contains_key(*i)).collect();
        if let Some(r) = rows.iter().filter(|r| !all_items.contains_key(&r.3)).min_by_key(|r| r.1) {
            warnings.push(format!(
                "{}:{}: item {} is not in {} (learned without categories); {} such items",
                t.path,
                r.1,
                crate::util::text::sanitize(&r.3, 40),
                item_path.display(),
                unlisted.len()
            ));
        }
    }
    let mut held_out: BTreeSet<usize> = BTreeSet::new();
    let mut tested: BTreeSet<usize> = BTreeSet::new();
    let mut valid = Vec::new();
    let mut test = Vec::new();
    for (user, seq) in &per_user {
        // Leave-one-out by time: last → test, second-to-last → valid, when the user has enough.
        let items: Vec<String> = seq.iter().map(|x| x.1.clone()).collect();
        if seq.len() >= 3 {
            let n = seq.len();
            test.push(EvalCase { user: user.clone(), history: items[..n - 1].to_vec(), target: items[n - 1].clone() });
            valid.push(EvalCase { user: user.clone(), history: items[..n - 2].to_vec(), target: items[n - 2].clone() });
            held_out.insert(seq[n - 1].0);
            held_out.insert(seq[n - 2].0);
            tested.insert(seq[n - 1].0);
        }
    }
    let train: Vec<(String, String)> = rows.iter().enumerate().filter(|(n, _)| !held_out.contains(n)).map(|(_, r)| (r.2.clone(), r.3.clone())).collect();
    let train_through_valid: Vec<(String, String)> =
        rows.iter().enumerate().filter(|(n, _)| !tested.contains(n)).map(|(_, r)| (r.2.clone(), r.3.clone())).collect();
    let mut item_ids: BTreeSet<String> = rows.iter().map(|r| r.3.clone()).collect();
    item_ids.extend(all_items.keys().cloned());
    let pool: Vec<&String> = item_ids.iter().collect();
    let mut rng = Rng::new(seed);
    let mut negatives = BTreeMap::new();
    for (user, seq) in &per_user {
        let seen: BTreeSet<&str> = seq.iter().map(|x| x.1.as_str()).collect();
        let mut list: Vec<String> = Vec::new();
        let mut tries = 0;
        while list.len() < 20 && tries < 2000 && pool.len() > seen.len() {
            tries += 1;
            let c = pool[rng.below(pool.len())];
            if !seen.contains(c.as_str()) && !list.contains(c) {
                list.push(c.clone());
            }
        }
        negatives.insert(user.clone(), list);
    }
    let items = item_ids
        .into_iter()
        .map(|id| {
            let info = all_items.get(&id).cloned().unwrap_or(ItemInfo { title: String::new(), categories: Vec::new() });
            (id, info)
        })
        .collect();
    Ok(Dataset { name, dir: dir.to_path_buf(), users: per_user.keys().cloned().collect(), items, train, train_through_valid, valid, test, negatives, warnings })
}

impl Dataset {
    /// The dataset as a model evaluated on `split` sees it: for `test`, the validation
    /// interactions are training interactions too.
    pub fn for_split(&self, split: &str) -> Dataset {
        let mut ds = self.clone();
        if split == "test" {
            ds.train = self.train_through_valid.clone();
        }
        ds
    }

    /// Agent id of a dataset user / item.
    pub fn user_agent(id: &str) -> String {
        format!("u{id}")
    }
    pub fn item_agent(id: &str) -> String {
        format!("i{id}")
    }

    /// The world a run starts from: users with empty profiles (they learn from interactions, as in
    /// AgentCF), items with their categories, the training interactions in time order, each with a
    /// seeded negative.
    pub fn world_spec(&self, seed: u64) -> WorldSpec {
        let mut clients: Vec<ClientSpec> = self
            .users
            .iter()
            .map(|u| ClientSpec { id: Self::user_agent(u), kind: ClientKind::User, title: None, attrs: BTreeMap::new(), rules: None })
            .collect();
        for (id, info) in &self.items {
            clients.push(ClientSpec {
                id: Self::item_agent(id),
                kind: ClientKind::Item,
                title: (!info.title.is_empty()).then(|| info.title.clone()),
                attrs: info.categories.iter().map(|c| (c.clone(), CATEGORY_WEIGHT)).collect(),
                rules: None,
            });
        }
        let pool: Vec<String> = self.items.keys().map(|i| Self::item_agent(i)).collect();
        let pool_refs: Vec<&String> = pool.iter().collect();
        let mut history: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (u, i) in &self.train {
            history.entry(u.as_str()).or_default().insert(Self::item_agent(i));
        }
        for c in self.valid.iter().chain(&self.test) {
            history.entry(c.user.as_str()).or_default().insert(Self::item_agent(&c.target));
        }
        let mut rng = Rng::new(seed);
        let schedule = self
            .train
            .iter()
            .map(|(u, i)| {
                let seen: BTreeSet<&str> = history[u.as_str()].iter().map(|s| s.as_str()).collect();
                Scheduled { user: Self::user_agent(u), item: Self::item_agent(i), negative: sample_negative(&mut rng, &pool_refs, &seen) }
            })
            .collect();
        WorldSpec { name: self.name.clone(), clients, schedule }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn presplit(dir: &Path) {
        write(dir, "toy.train.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\n1\t10\t11\n1\t10 11\t12\n2\t20\t21\n");
        write(dir, "toy.valid.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\n1\t10 11 12\t13\n2\t20 21\t22\n");
        write(dir, "toy.test.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\n1\t10 11 12 13\t14\n2\t20 21 22\t23\n");
        write(dir, "toy.random", "1\t20 21 22 23 24\n2\t10 11 12 13 14\n");
        write(
            dir,
            "toy.item",
            "item_id:token\ttitle:token_seq\tcategory:token_seq\n10\tA\tJazz; Bebop\n11\tB\tJazz\n12\tC\tRock\n13\tD\tRock; Metal\n14\tE\tPop\n20\tF\tPop\n21\tG\tPop; Dance\n22\tH\tDance\n23\tI\tFolk\n24\tJ\tFolk\n",
        );
    }

    /// What looks wrong is said, naming file and line; a clean dataset says nothing.
    #[test]
    fn unlisted_and_twice_listed_items_are_warned_of() {
        let d = tempfile::tempdir().unwrap();
        presplit(d.path());
        assert_eq!(load_dataset(d.path(), 1).unwrap().warnings, Vec::<String>::new());
        write(d.path(), "toy.test.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\n1\t10 11 12 13\t99\n2\t20 21 22\t23\n");
        write(d.path(), "toy.random", "1\t20 21 22 23 24\n2\t10 11 12 13 77\n");
        let item = std::fs::read_to_string(d.path().join("toy.item")).unwrap();
        write(d.path(), "toy.item", &format!("{item}12\tC again\tPop\n"));
        let w = load_dataset(d.path(), 1).unwrap().warnings;
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].ends_with("toy.item:12: item 12 is listed again (first on line 4); this row is used"), "{w:?}");
        assert!(w[1].contains("toy.test.inter:2: target item 99 is not in"), "{w:?}");
        assert!(w[2].contains("toy.random:2: candidate item 77 is not in") && w[2].ends_with("1 such candidates"), "{w:?}");
        // A training item missing from .item (here on the first row's history and its target).
        presplit(d.path());
        write(d.path(), "toy.train.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\n1\t10\t11\n1\t10 11\t55\n2\t66\t21\n");
        let w = load_dataset(d.path(), 1).unwrap().warnings;
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("toy.train.inter:3: training item 55 is not in") && w[0].ends_with("2 such items"), "{w:?}");
    }

    #[test]
    fn presplit_loads_in_time_order() {
        let d = tempfile::tempdir().unwrap();
        presplit(d.path());
        let ds = load_dataset(d.path(), 1).unwrap();
        assert_eq!(ds.name, "toy");
        assert_eq!(ds.users, vec!["1", "2"]);
        // Every history item trains, the first row's `item_id_list` included; users interleave by
        // position in their history.
        let pairs = |v: &[(&str, &str)]| v.iter().map(|(u, i)| (u.to_string(), i.to_string())).collect::<Vec<_>>();
        assert_eq!(ds.train, pairs(&[("1", "10"), ("2", "20"), ("1", "11"), ("2", "21"), ("1", "12")]));
        // Tested, a model has also seen the validation interaction.
        assert_eq!(ds.for_split("test").train, pairs(&[("1", "10"), ("2", "20"), ("1", "11"), ("2", "21"), ("1", "12"), ("2", "22"), ("1", "13")]));
        assert_eq!(ds.for_split("valid").train, ds.train);
        assert_eq!(ds.test[0].target, "14");
        assert_eq!(ds.items["10"].categories, vec!["Jazz", "Bebop"]);
        assert_eq!(ds.negatives["1"][0], "20");
        let spec = ds.world_spec(3);
        assert_eq!(spec.schedule.len(), 5);
        assert!(spec.schedule.iter().all(|s| s.negative.is_some() && s.negative.as_ref() != Some(&s.item)));
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        presplit(d.path());
        write(d.path(), "toy.train.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\n1\t10\t11\n1\t10 11\n");
        let e = load_dataset(d.path(), 1).unwrap_err().to_string();
        assert!(e.contains("toy.train.inter:3: expected 3 tab-separated fields"), "{e}");
        presplit(d.path());
        write(d.path(), "toy.item", "item_id:token\ttitle:token_seq\tcategory:token_seq\n10\tA\tJazz\n\tB\tJazz\n");
        let e = load_dataset(d.path(), 1).unwrap_err().to_string();
        assert!(e.contains("toy.item:3: bad item id"), "{e}");
        presplit(d.path());
        std::fs::write(d.path().join("toy.random"), b"1\t20 21\n2\t\xff\xfe\n").unwrap();
        let e = load_dataset(d.path(), 1).unwrap_err().to_string();
        assert!(e.contains("toy.random:2: not valid UTF-8"), "{e}");
    }

    #[test]
    fn single_inter_is_split_by_time() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "ml.inter",
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t5\t4\t300\n1\t6\t4\t100\n1\t7\t4\t200\n1\t8\t4\t400\n2\t5\t3\t50\n",
        );
        write(d.path(), "ml.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n5\tA\t1995\tAction Comedy\n6\tB\t1981\tDrama\n7\tC\t\tAction\n8\tD\t1999\tComedy\n9\tE\t2001\tHorror\n");
        let ds = load_dataset(d.path(), 1).unwrap();
        assert_eq!(ds.test, vec![EvalCase { user: "1".into(), history: vec!["6".into(), "7".into(), "5".into()], target: "8".into() }]);
        assert_eq!(ds.valid[0].target, "5");
        assert_eq!(ds.train, vec![("2".into(), "5".into()), ("1".into(), "6".into()), ("1".into(), "7".into())]);
        let tested = ds.for_split("test").train;
        assert_eq!(tested, vec![("2".into(), "5".into()), ("1".into(), "6".into()), ("1".into(), "7".into()), ("1".into(), "5".into())]);
        assert_eq!(ds.items["5"].categories, vec!["Action", "Comedy", "1990s"]);
        assert_eq!(ds.items["7"].categories, vec!["Action"], "no year, no decade");
        assert!(ds.negatives["1"].iter().all(|i| i == "9"));
        assert_eq!(ds.warnings, Vec::<String>::new());
        // Rows are sorted by time; the warning names the file's first line with an unlisted item.
        write(d.path(), "ml.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t5\t4\t300\n1\t42\t4\t100\n1\t43\t4\t50\n");
        let w = load_dataset(d.path(), 1).unwrap().warnings;
        assert!(w.len() == 1 && w[0].contains("ml.inter:3: item 42 is not in") && w[0].ends_with("2 such items"), "{w:?}");
        write(d.path(), "ml.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t5\t4\tsoon\n");
        let e = load_dataset(d.path(), 1).unwrap_err().to_string();
        assert!(e.contains("ml.inter:2: timestamp"), "{e}");
    }
}
