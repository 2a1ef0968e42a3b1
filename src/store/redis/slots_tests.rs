//! Key → slot against the cluster spec's examples, the slot map from `CLUSTER SLOTS` replies,
//! and redirections.
use super::*;

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn node(host: &str, port: i64, id: &str) -> Reply {
    Reply::Array(vec![bulk(host), Reply::Int(port), bulk(id), Reply::Array(vec![])])
}

fn range(start: i64, end: i64, nodes: Vec<Reply>) -> Reply {
    let mut items = vec![Reply::Int(start), Reply::Int(end)];
    items.extend(nodes);
    Reply::Array(items)
}

fn addr(host: &str, port: u16) -> NodeAddr {
    NodeAddr { host: host.into(), port }
}

/// The three ranges `redis-cli --cluster create` gives three masters.
fn three_masters() -> Reply {
    Reply::Array(vec![
        range(0, 5460, vec![node("127.0.0.1", 7000, "a"), node("127.0.0.1", 7003, "d")]),
        range(5461, 10922, vec![node("127.0.0.1", 7001, "b"), node("127.0.0.1", 7004, "e")]),
        range(10923, 16383, vec![node("127.0.0.1", 7002, "c"), node("127.0.0.1", 7005, "f")]),
    ])
}

#[test]
fn crc16_test_vector() {
    // The cluster spec: CRC16/XMODEM of "123456789" is 0x31C3.
    assert_eq!(crc16(b"123456789"), 0x31C3);
    assert_eq!(crc16(b""), 0);
}

#[test]
fn hash_tags_follow_the_spec() {
    assert_eq!(hash_tag(b"{user1000}.following"), b"user1000");
    assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"{user1000}.followers"));
    // An empty first tag: the whole key is hashed.
    assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
    assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") & 16383);
    // From the first '{' to the first '}' after it.
    assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
    assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
    assert_eq!(hash_tag(b"no tag"), b"no tag");
    assert_eq!(hash_tag(b"open{only"), b"open{only");
    assert_eq!(hash_tag(b"close}only{"), b"close}only{");
    // Values redis-cli's CLUSTER KEYSLOT gives.
    assert_eq!(key_slot(b"foo"), 12182);
    assert_eq!(key_slot(b"bar"), 5061);
    assert_eq!(key_slot(b"123456789"), 0x31C3 & 16383);
}

#[test]
fn session_and_lock_keys_share_a_slot() {
    for _ in 0..100 {
        let id = crate::id::generate(32).unwrap();
        let data = tagged_key("PHPSESSID:", &id);
        assert_eq!(data, format!("PHPSESSID:{{{id}}}").into_bytes());
        let mut lock = data.clone();
        lock.extend_from_slice(b":lock");
        assert_eq!(key_slot(&data), key_slot(&lock));
        assert_eq!(key_slot(&data), key_slot(id.as_bytes()));
    }
}

#[test]
fn ten_thousand_session_ids_spread_over_three_masters() {
    let map = SlotMap::from_cluster_slots(&three_masters(), "127.0.0.1").unwrap();
    let mut per_master = std::collections::BTreeMap::new();
    let n = 10_000;
    for _ in 0..n {
        let id = crate::id::generate(32).unwrap();
        let key = tagged_key("PHPSESSID:", &id);
        *per_master.entry(map.master_for_key(&key).unwrap().port).or_insert(0u32) += 1;
    }
    eprintln!("slot distribution of {n} session ids over 3 equal ranges: {per_master:?}");
    assert_eq!(per_master.len(), 3);
    for (port, count) in per_master {
        // 3,333 expected, standard deviation about 47: 400 off is far outside chance.
        assert!((2933..=3733).contains(&count), "master :{port} got {count} of {n}");
    }
}

#[test]
fn slot_map_from_cluster_slots() {
    let map = SlotMap::from_cluster_slots(&three_masters(), "127.0.0.1").unwrap();
    assert_eq!(map.covered(), SLOTS);
    assert_eq!(map.shards().len(), 3);
    assert_eq!(map.master(0), Some(&addr("127.0.0.1", 7000)));
    assert_eq!(map.master(5460), Some(&addr("127.0.0.1", 7000)));
    assert_eq!(map.master(5461), Some(&addr("127.0.0.1", 7001)));
    assert_eq!(map.master(16383), Some(&addr("127.0.0.1", 7002)));
    assert_eq!(map.master(16384), None);
    assert_eq!(map.master_for_key(b"foo"), Some(&addr("127.0.0.1", 7002)));
    let shard = map.shard(100).unwrap();
    assert_eq!(shard.id.as_deref(), Some("a"));
    assert_eq!(shard.replicas, vec![addr("127.0.0.1", 7003)]);
    let shown = format!("{map:?}");
    assert!(shown.contains("0-5460:127.0.0.1:7000"), "{shown}");
}

#[test]
fn slot_map_edge_cases() {
    // A master owning two ranges is one shard; gaps stay unassigned; an empty host is the
    // host asked; `?` is a node without a known address; old servers give no id.
    let reply = Reply::Array(vec![
        range(0, 99, vec![node("", 7000, "a")]),
        range(200, 299, vec![Reply::Array(vec![bulk("10.0.0.2"), Reply::Int(7001)])]),
        range(300, 399, vec![node("", 7000, "a"), node("?", 7003, "x")]),
        range(400, 499, vec![node("?", 7009, "q")]),
        range(500, 500, vec![node("::1", 7005, "v6")]),
    ]);
    let map = SlotMap::from_cluster_slots(&reply, "seed.local").unwrap();
    assert_eq!(map.master(50), Some(&addr("seed.local", 7000)));
    assert_eq!(map.master(350), Some(&addr("seed.local", 7000)));
    assert_eq!(map.master(150), None);
    assert_eq!(map.master(250), Some(&addr("10.0.0.2", 7001)));
    assert_eq!(map.shard(250).unwrap().id, None);
    assert_eq!(map.master(450), None);
    assert_eq!(map.master(500).unwrap().to_string(), "[::1]:7005");
    assert_eq!(map.shards().len(), 3);
    assert!(map.shard(350).unwrap().replicas.is_empty());
    assert_eq!(map.covered(), 100 + 100 + 100 + 1);

    // A cluster with no slots assigned yet answers an empty array.
    assert_eq!(SlotMap::from_cluster_slots(&Reply::Array(vec![]), "h").unwrap().covered(), 0);
}

#[test]
fn slot_map_refuses_malformed_replies() {
    let bad = [
        Reply::Int(1),
        Reply::Array(vec![Reply::Int(1)]),
        Reply::Array(vec![range(0, 16384, vec![node("h", 1, "a")])]),
        Reply::Array(vec![range(10, 5, vec![node("h", 1, "a")])]),
        Reply::Array(vec![range(-1, 5, vec![node("h", 1, "a")])]),
        Reply::Array(vec![range(0, 5, vec![])]),
        Reply::Array(vec![range(0, 5, vec![node("h", 0, "a")])]),
        Reply::Array(vec![range(0, 5, vec![node("h", 70000, "a")])]),
        Reply::Array(vec![range(0, 5, vec![Reply::Nil])]),
    ];
    for r in bad {
        match SlotMap::from_cluster_slots(&r, "h") {
            Err(StoreError::Connection(m)) => assert!(m.contains("CLUSTER SLOTS"), "{m}"),
            other => panic!("{r:?}: {other:?}"),
        }
    }
    let e = SlotMap::from_cluster_slots(&Reply::Error(Box::new(crate::store::redis::errors::parse("ERR This instance has cluster support disabled".as_bytes()))), "h");
    assert!(matches!(e, Err(StoreError::Server(_))), "{e:?}");
}

#[test]
fn moved_patches_one_slot() {
    let mut map = SlotMap::from_cluster_slots(&three_masters(), "127.0.0.1").unwrap();
    assert!(map.moved(100, addr("127.0.0.1", 7001)));
    assert_eq!(map.master(100), Some(&addr("127.0.0.1", 7001)));
    assert_eq!(map.master(101), Some(&addr("127.0.0.1", 7000)));
    assert_eq!(map.shards().len(), 3);
    assert!(map.moved(101, addr("127.0.0.1", 7010)));
    assert_eq!(map.shards().len(), 4);
    assert!(!map.moved(16384, addr("127.0.0.1", 7000)));
    // Bounded: ever new addresses stop being added.
    let mut map = SlotMap::empty();
    for p in 1..=(MAX_SHARDS as u16 + 10) {
        map.moved(p % 16384, addr("h", p));
    }
    assert_eq!(map.shards().len(), MAX_SHARDS);
}

/// Seeds answering from a script; a seed not in it is unreachable.
struct Seeds(std::collections::HashMap<u16, Result<Reply, crate::store::error::ServerErrorKind>>);

impl SlotsProbe for Seeds {
    fn cluster_slots(&mut self, node: &NodeAddr) -> Result<Reply, StoreError> {
        match self.0.get(&node.port) {
            Some(Ok(r)) => Ok(r.clone()),
            Some(Err(k)) => Err(StoreError::Server(crate::store::error::ServerError::new(*k, "refused"))),
            None => Err(StoreError::Connection(format!("connect to {node}: Connection refused"))),
        }
    }
}

fn seeds(ports: &[u16]) -> Vec<NodeAddr> {
    ports.iter().map(|p| addr("127.0.0.1", *p)).collect()
}

#[test]
fn the_slot_map_comes_from_the_first_seed_that_knows_it_all() {
    let partial = Reply::Array(vec![range(0, 99, vec![node("127.0.0.1", 7000, "a")])]);
    let mut p = Seeds([(7001, Ok(partial.clone())), (7002, Ok(three_masters()))].into_iter().collect());
    // Unreachable, then partial, then full.
    let got = load_slot_map(&mut p, &seeds(&[7000, 7001, 7002])).unwrap();
    assert_eq!((got.seed, got.map.covered()), (2, SLOTS));
    // Only partial maps: the fullest.
    let bigger = Reply::Array(vec![range(0, 999, vec![node("127.0.0.1", 7000, "a")])]);
    let mut p = Seeds([(7001, Ok(partial)), (7002, Ok(bigger))].into_iter().collect());
    let got = load_slot_map(&mut p, &seeds(&[7000, 7001, 7002])).unwrap();
    assert_eq!((got.seed, got.map.covered()), (2, 1000));
}

#[test]
fn slot_map_errors_name_every_seed() {
    use crate::store::error::ServerErrorKind;
    // Nobody answers.
    let e = load_slot_map(&mut Seeds(Default::default()), &seeds(&[7000, 7001])).unwrap_err();
    let StoreError::Connection(m) = &e else { panic!("{e:?}") };
    assert!(m.contains("127.0.0.1:7000: connection failed") && m.contains("127.0.0.1:7001"), "{m}");
    // Every seed refuses the password: an Auth error.
    let mut p = Seeds([(7000, Err(ServerErrorKind::Auth)), (7001, Err(ServerErrorKind::Auth))].into_iter().collect());
    let e = load_slot_map(&mut p, &seeds(&[7000, 7001])).unwrap_err();
    assert_eq!(e.server_kind(), Some(ServerErrorKind::Auth), "{e:?}");
    // A node without cluster support, and an empty map (no slots assigned yet).
    let no_cluster = Reply::Error(Box::new(crate::store::redis::errors::parse("ERR This instance has cluster support disabled".as_bytes())));
    let mut p = Seeds([(7000, Ok(no_cluster)), (7001, Ok(Reply::Array(vec![])))].into_iter().collect());
    let e = load_slot_map(&mut p, &seeds(&[7000, 7001])).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("cluster support disabled") && m.contains("127.0.0.1:7001 knows 0 of 16384 slots"), "{m}");
    assert!(load_slot_map(&mut Seeds(Default::default()), &[]).unwrap_err().to_string().contains("no seed"));
}
