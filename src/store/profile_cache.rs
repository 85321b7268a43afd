//! The in-memory cache of hot customer profiles, bounded by the bytes it holds (events and
//! their text: a profile of long support tickets weighs what it costs).
//!
//! Eviction is two-generation (an approximation of LRU that needs no linked list): hits are
//! served from `hot` or promoted into it from `cold`; when `hot` outgrows half the budget it
//! becomes `cold` and the old `cold` is dropped. Whatever was not touched during one whole
//! generation goes.
//!
//! Consistency with the database: the writer thread merges newly committed events into cached
//! profiles and bumps a per-stripe epoch; a reader that loaded a profile from SQL caches it only
//! if its stripe's epoch did not move during the load. A load that raced with a commit either
//! sees the commit or is not cached, or is cached before the writer's merge and then merged.
//!
//! Decisions answered once spooled (see `spool`) have exposures the log holds only after their
//! commit. Until then the cache keeps them as *pending*: merged into the customer's cached
//! profile when they arrive and into any profile loaded from SQL meanwhile, and settled (dropped
//! from pending, nothing merged again) when the writer commits them.
//!
//! While the writer commits events of a customer, the customer's stripe is *in flight*: a load
//! that overlaps a commit is not cached (it may have read the committed events and would then
//! get them again from the writer's merge or from pending), and a load during which a commit
//! ended is done again, so that it cannot miss what was pending when it began.
//!
//! Writes this cache never sees — another replica's, on a shared PostgreSQL database — are
//! bounded by a time to live: an entry is served at most `ttl` after it was loaded (then it is
//! loaded again), and a `ttl` of zero turns the cache off. Without a `ttl` (SQLite, the only
//! writer) entries stay until evicted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::fnv::Fnv1a;
use crate::journey::Event;

/// One customer's kept events, oldest first (ties in arrival order).
pub type Profile = Arc<Vec<Event>>;

/// Epoch stripes: enough that heavy ingestion rarely stops an unrelated load being cached.
const STRIPES: usize = 1024;

fn stripe(customer_id: &str) -> usize {
    (Fnv1a::of(customer_id.as_bytes()) % STRIPES as u64) as usize
}

/// What a cached profile costs besides its events: the map entry, the key, the `Arc` and the
/// vector's header, roughly.
const PROFILE_OVERHEAD_BYTES: usize = 128;

/// Approximate heap bytes of a cached profile.
pub(crate) fn weight(profile: &Profile) -> usize {
    PROFILE_OVERHEAD_BYTES + profile.iter().map(event_bytes).sum::<usize>()
}

/// An event's bytes: the struct and the strings it owns.
fn event_bytes(event: &Event) -> usize {
    std::mem::size_of::<Event>()
        + event.customer_id.len()
        + event.action_id.as_ref().map_or(0, String::len)
        + event.text.as_ref().map_or(0, String::len)
        + event.channel.as_ref().map_or(0, |c| c.as_str().len())
}

/// Merges `new` (in arrival order) into a profile sorted by time, keeping the latest `max`.
pub(crate) fn merge_events(profile: &mut Vec<Event>, new: &[Event], max: usize) {
    profile.extend_from_slice(new);
    // Stable: events with equal timestamps stay in arrival order, as `seq` orders them in SQL.
    profile.sort_by_key(|e| e.timestamp);
    if profile.len() > max {
        profile.drain(..profile.len() - max);
    }
}

/// A cached profile and when it was loaded from the database.
#[derive(Clone)]
struct Entry {
    profile: Profile,
    loaded: Instant,
}

struct Generations {
    hot: HashMap<String, Entry>,
    hot_weight: usize,
    cold: HashMap<String, Entry>,
    capacity: usize,
    epochs: Vec<u64>,
    /// Spooled exposures not yet committed, per customer in arrival order.
    pending: HashMap<String, Vec<Event>>,
    /// Per stripe, commits under way that touch it (see [`ProfileCache::begin_writes`]).
    in_flight: Vec<u32>,
}

impl Generations {
    /// Merges new events into the customer's entry, if any, and moves the stripe's epoch so
    /// that concurrent loads do not cache what they read before.
    fn merge(&mut self, customer_id: &str, new: &[Event], max: usize) {
        self.epochs[stripe(customer_id)] += 1;
        // A merged entry keeps its load time: what other writers did since is no fresher.
        if let Some(entry) = self.hot.get_mut(customer_id) {
            let before = weight(&entry.profile);
            merge_events(Arc::make_mut(&mut entry.profile), new, max);
            let after = weight(&entry.profile);
            self.hot_weight = self.hot_weight + after - before;
        } else if let Some(entry) = self.cold.get_mut(customer_id) {
            // The cold generation's weight is not tracked: it is dropped whole.
            merge_events(Arc::make_mut(&mut entry.profile), new, max);
        }
    }

    fn insert_hot(&mut self, customer_id: String, entry: Entry) {
        // One copy per customer, so that a writer's merge can never miss a stale twin.
        self.cold.remove(&customer_id);
        self.hot_weight += weight(&entry.profile);
        if let Some(old) = self.hot.insert(customer_id, entry) {
            self.hot_weight -= weight(&old.profile);
        }
        if self.hot_weight > self.capacity / 2 {
            self.cold = std::mem::take(&mut self.hot);
            self.hot_weight = 0;
        }
    }
}

/// A bounded, thread-safe cache of customer profiles.
pub(crate) struct ProfileCache {
    inner: Mutex<Generations>,
    /// How long an entry may be served after it was loaded; `None`: until evicted.
    ttl: Option<Duration>,
    /// Events kept per profile when pending events are merged into a loaded one.
    max_events: usize,
}

impl ProfileCache {
    /// A cache holding about `capacity_bytes` bytes of profiles in all, each served at most
    /// `ttl` after it was loaded (`None`: until evicted; zero: nothing is cached).
    pub(crate) fn new(capacity_bytes: usize, ttl: Option<Duration>) -> Self {
        ProfileCache {
            ttl,
            max_events: usize::MAX,
            inner: Mutex::new(Generations {
                hot: HashMap::new(),
                hot_weight: 0,
                cold: HashMap::new(),
                capacity: capacity_bytes.max(1),
                epochs: vec![0; STRIPES],
                pending: HashMap::new(),
                in_flight: vec![0; STRIPES],
            }),
        }
    }

    /// Keeps at most `max` events per profile where the cache itself merges (pending events
    /// into a loaded profile), as the store does.
    pub(crate) fn keeping(mut self, max: usize) -> Self {
        self.max_events = max.max(1);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Generations> {
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                // A panic mid-update may have left a profile half-merged: start empty, and move
                // every epoch so that no load begun before the panic gets cached either.
                let mut guard = poisoned.into_inner();
                guard.hot.clear();
                guard.cold.clear();
                guard.hot_weight = 0;
                for epoch in &mut guard.epochs {
                    *epoch += 1;
                }
                self.inner.clear_poison();
                guard
            }
        }
    }

    /// The cached profile, promoting it to the hot generation; otherwise the epoch to hand to
    /// [`insert_if_unchanged`](Self::insert_if_unchanged) after loading it.
    pub(crate) fn get(&self, customer_id: &str) -> Result<Profile, u64> {
        let mut g = self.lock();
        let fresh = |entry: &Entry| self.ttl.is_none_or(|ttl| entry.loaded.elapsed() < ttl);
        if let Some(entry) = g.hot.get(customer_id) {
            if fresh(entry) {
                return Ok(entry.profile.clone());
            }
            if let Some(stale) = g.hot.remove(customer_id) {
                g.hot_weight -= weight(&stale.profile);
            }
        } else if let Some((key, entry)) = g.cold.remove_entry(customer_id) {
            if fresh(&entry) {
                let profile = entry.profile.clone();
                g.insert_hot(key, entry);
                return Ok(profile);
            }
        }
        Err(g.epochs[stripe(customer_id)])
    }

    /// Admits a profile loaded from SQL after [`get`](Self::get) returned `epoch`: merges the
    /// customer's pending (spooled, uncommitted) events into it and caches it, unless a write
    /// to its stripe began, is under way or ended since. A write that ended during the load may
    /// or may not be in what was read: then, unless `last_try`, `Err` with the current epoch
    /// says to load again.
    pub(crate) fn admit(
        &self,
        customer_id: &str,
        profile: Profile,
        epoch: u64,
        last_try: bool,
    ) -> Result<Profile, u64> {
        let mut g = self.lock();
        let stripe = stripe(customer_id);
        let unchanged = g.epochs[stripe] == epoch;
        if !unchanged && !last_try {
            return Err(g.epochs[stripe]);
        }
        let profile = match g.pending.get(customer_id) {
            Some(pending) => {
                let mut merged = profile.as_ref().clone();
                merge_events(&mut merged, pending, self.max_events);
                Arc::new(merged)
            }
            None => profile,
        };
        if unchanged && g.in_flight[stripe] == 0 && self.ttl != Some(Duration::ZERO) {
            let entry = Entry {
                profile: Arc::clone(&profile),
                loaded: Instant::now(),
            };
            g.insert_hot(customer_id.to_string(), entry);
        }
        Ok(profile)
    }

    /// [`admit`](Self::admit) without a retry.
    #[cfg(test)]
    pub(crate) fn insert_if_unchanged(
        &self,
        customer_id: &str,
        profile: Profile,
        epoch: u64,
    ) -> Profile {
        self.admit(customer_id, profile, epoch, true)
            .unwrap_or_else(|_| Arc::new(Vec::new()))
    }

    /// Before the writer commits events of these customers: their stripes are in flight until
    /// [`end_writes`](Self::end_writes), and no load that overlaps is cached (it might have
    /// read the commit and then get the writer's merge, or the pending events, a second time).
    /// Returns the stripes to hand to `end_writes`.
    pub(crate) fn begin_writes<'a>(&self, customers: impl Iterator<Item = &'a str>) -> Vec<usize> {
        let mut stripes: Vec<usize> = customers.map(stripe).collect();
        if stripes.is_empty() {
            return stripes;
        }
        stripes.sort_unstable();
        stripes.dedup();
        let mut g = self.lock();
        for &s in &stripes {
            g.epochs[s] += 1;
            g.in_flight[s] += 1;
        }
        stripes
    }

    /// After the writer's commit (or its failure) and its merges: the stripes are no longer in
    /// flight.
    pub(crate) fn end_writes(&self, stripes: &[usize]) {
        if stripes.is_empty() {
            return;
        }
        let mut g = self.lock();
        for &s in stripes {
            g.epochs[s] += 1;
            g.in_flight[s] = g.in_flight[s].saturating_sub(1);
        }
    }

    /// A spooled decision's exposures, answered before their commit: merged into the cached
    /// profile, if any, and kept as pending until [`settle_spooled`](Self::settle_spooled).
    pub(crate) fn add_spooled(&self, customer_id: &str, new: &[Event]) {
        let mut g = self.lock();
        g.merge(customer_id, new, self.max_events);
        g.pending
            .entry(customer_id.to_string())
            .or_default()
            .extend_from_slice(new);
    }

    /// The writer is done with `count` of the customer's pending events (committed, or not
    /// taken by the log — then [`forget`](Self::forget) follows): they leave pending, and
    /// loads under way are not cached.
    pub(crate) fn settle_spooled(&self, customer_id: &str, count: usize) {
        let mut g = self.lock();
        g.epochs[stripe(customer_id)] += 1;
        if let Some(pending) = g.pending.get_mut(customer_id) {
            pending.drain(..count.min(pending.len()));
            if pending.is_empty() {
                g.pending.remove(customer_id);
            }
        }
    }

    /// After a commit: merges the customer's new events into a cached profile, if any, and moves
    /// the stripe's epoch so that concurrent loads do not cache what they read before.
    pub(crate) fn apply_committed(&self, customer_id: &str, new: &[Event], max: usize) {
        self.lock().merge(customer_id, new, max);
    }

    /// Drops the customer's cached profile (it holds events the log does not), and moves the
    /// stripe's epoch so that a load already under way does not cache it again.
    pub(crate) fn forget(&self, customer_id: &str) {
        let mut g = self.lock();
        g.epochs[stripe(customer_id)] += 1;
        if let Some(stale) = g.hot.remove(customer_id) {
            g.hot_weight -= weight(&stale.profile);
        }
        g.cold.remove(customer_id);
    }

    /// Number of cached profiles (for tests and metrics).
    pub(crate) fn len(&self) -> usize {
        let g = self.lock();
        g.hot.len() + g.cold.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{EventType, Timestamp};

    fn ev(customer: &str, t: i64) -> Event {
        Event::new(customer, Timestamp(t), EventType::Visit)
    }

    #[test]
    fn spooled_exposures_reach_profiles_loaded_before_their_commit_and_only_once() {
        let cache = ProfileCache::new(1 << 20, None);
        let cached = |c: &ProfileCache| c.get("c").map(|p| p.len());
        // Not cached when the decision is spooled: a load before the commit gets it merged.
        cache.add_spooled("c", &[ev("c", 5)]);
        let epoch = cache.get("c").unwrap_err();
        let served = cache.insert_if_unchanged("c", Arc::new(vec![ev("c", 1)]), epoch);
        assert_eq!(served.len(), 2);
        assert_eq!(cached(&cache), Ok(2));
        // The commit settles it: nothing is merged again, now or into later loads.
        cache.settle_spooled("c", 1);
        assert_eq!(cached(&cache), Ok(2));
        cache.forget("c");
        let epoch = cache.get("c").unwrap_err();
        let after_commit = vec![ev("c", 1), ev("c", 5)];
        let served = cache.insert_if_unchanged("c", Arc::new(after_commit), epoch);
        assert_eq!(served.len(), 2);
        // Cached when spooled: merged into the entry at once.
        cache.add_spooled("c", &[ev("c", 9)]);
        assert_eq!(cached(&cache), Ok(3));
        // With caching off a load still sees what is pending.
        let off = ProfileCache::new(1 << 20, Some(Duration::ZERO));
        off.add_spooled("c", &[ev("c", 5)]);
        let epoch = off.get("c").unwrap_err();
        assert_eq!(
            off.insert_if_unchanged("c", Arc::new(vec![]), epoch).len(),
            1
        );
        off.settle_spooled("c", 1);
        let epoch = off.get("c").unwrap_err();
        assert_eq!(
            off.insert_if_unchanged("c", Arc::new(vec![]), epoch).len(),
            0
        );
    }

    /// A load that overlaps the commit of spooled exposures: its read may hold them already
    /// (then pending adds them again), so it is not cached; a load during which the commit
    /// ended is done again, since what it read may lack what is no longer pending.
    #[test]
    fn loads_overlapping_a_commit_neither_cache_a_double_count_nor_miss_an_exposure() {
        let cache = ProfileCache::new(1 << 20, None);
        let exposure = || vec![ev("c", 5)];
        // Read after the commit, admitted before the writer settles.
        cache.add_spooled("c", &exposure());
        let epoch = cache.get("c").unwrap_err();
        let stripes = cache.begin_writes(["c"].into_iter());
        let epoch = cache
            .admit("c", Arc::new(exposure()), epoch, false)
            .unwrap_err();
        let served = cache
            .admit("c", Arc::new(exposure()), epoch, false)
            .unwrap();
        assert_eq!(served.len(), 2, "one request may count it twice");
        cache.settle_spooled("c", 1);
        cache.end_writes(&stripes);
        assert!(cache.get("c").is_err(), "but it is not cached");
        // Read before the commit, admitted after it ended: loaded again.
        cache.add_spooled("d", &[ev("d", 5)]);
        let epoch = cache.get("d").unwrap_err();
        let before_commit = Arc::new(Vec::new());
        let stripes = cache.begin_writes(["d"].into_iter());
        cache.settle_spooled("d", 1);
        cache.end_writes(&stripes);
        let epoch = cache.admit("d", before_commit, epoch, false).unwrap_err();
        let served = cache
            .admit("d", Arc::new(vec![ev("d", 5)]), epoch, false)
            .unwrap();
        assert_eq!(served.len(), 1);
        assert_eq!(cache.get("d").map(|p| p.len()), Ok(1));
    }

    #[test]
    fn merge_keeps_the_latest_sorted_and_ties_in_arrival_order() {
        let mut p = vec![ev("c", 5), ev("c", 10)];
        let mut late = ev("c", 5);
        late.action_id = Some("second".into());
        merge_events(&mut p, &[ev("c", 1), late, ev("c", 20)], 4);
        let times: Vec<i64> = p.iter().map(|e| e.timestamp.0).collect();
        assert_eq!(times, vec![5, 5, 10, 20]);
        assert_eq!(p[1].action_id.as_deref(), Some("second"));
    }

    #[test]
    fn loads_racing_a_write_are_not_cached() {
        let cache = ProfileCache::new(1 << 20, None);
        let epoch = cache.get("c").unwrap_err();
        cache.apply_committed("c", &[ev("c", 1)], 10);
        cache.insert_if_unchanged("c", Arc::new(vec![]), epoch);
        assert!(cache.get("c").is_err(), "a stale load must not be cached");

        let epoch = cache.get("c").unwrap_err();
        cache.insert_if_unchanged("c", Arc::new(vec![ev("c", 1)]), epoch);
        cache.apply_committed("c", &[ev("c", 2)], 10);
        assert_eq!(
            cache.get("c").unwrap().len(),
            2,
            "writes merge into cached profiles"
        );
    }

    fn cache_of(cache: &ProfileCache, count: usize, profile: impl Fn(&str) -> Vec<Event>) {
        for i in 0..count {
            let id = format!("c{i:04}");
            let epoch = cache.get(&id).unwrap_err();
            cache.insert_if_unchanged(&id, Arc::new(profile(&id)), epoch);
        }
    }

    #[test]
    fn the_cache_stays_bounded() {
        let one = weight(&Arc::new(vec![ev("c0000", 1); 9]));
        let cache = ProfileCache::new(10 * one, None);
        cache_of(&cache, 1_000, |id| vec![ev(id, 1); 9]);
        // Two generations of at most half the budget, plus the entry that tipped one over.
        assert!(cache.len() <= 12, "{} profiles cached", cache.len());
        // The most recent one is still there.
        assert!(cache.get("c0999").is_ok());
    }

    #[test]
    fn long_texts_weigh_what_they_cost() {
        let ticket = |id: &str| {
            let mut e = ev(id, 1);
            e.text = Some("x".repeat(4_096));
            vec![e; 10]
        };
        // 1 MB holds about 25 profiles of ten 4 KB tickets, however few events that is.
        let cache = ProfileCache::new(1 << 20, None);
        cache_of(&cache, 1_000, ticket);
        assert!(cache.len() <= 26, "{} profiles cached", cache.len());
        let heavy = weight(&Arc::new(ticket("c0000")));
        assert!(heavy > 40_960, "{heavy}");
    }
}

#[cfg(test)]
mod ttl_tests {
    use super::*;
    use crate::journey::{EventType, Timestamp};

    fn load(cache: &ProfileCache, customer: &str) {
        let epoch = cache.get(customer).unwrap_err();
        let event = Event::new(customer, Timestamp(1), EventType::Visit);
        cache.insert_if_unchanged(customer, Arc::new(vec![event]), epoch);
    }

    #[test]
    fn entries_expire_after_their_time_to_live() {
        let cache = ProfileCache::new(1 << 20, Some(Duration::from_millis(50)));
        load(&cache, "c");
        assert!(cache.get("c").is_ok(), "fresh: served from memory");
        std::thread::sleep(Duration::from_millis(80));
        assert!(cache.get("c").is_err(), "expired: loaded again");
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_zero_time_to_live_caches_nothing() {
        let cache = ProfileCache::new(1 << 20, Some(Duration::ZERO));
        load(&cache, "c");
        assert!(cache.get("c").is_err());
        assert_eq!(cache.len(), 0);
    }
}
