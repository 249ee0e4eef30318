//! Version negotiation: a broker that does not know our ApiVersions version says so
//! (error 35, version-0 body) and gets a retry at a version it knows; each API is then
//! spoken at the highest version both sides know, per broker; further connections start
//! at the ApiVersions version the last broker answered; a broker that shares no
//! version of a needed API is reported as `UnsupportedVersion`, naming the API.

use consumer_core::codec::messages::fetch::FIRST_TOPIC_ID_VERSION;
use consumer_core::codec::{ApiKey, VersionError, VersionRange};
use consumer_core::testing::{tp, Profile, TestCluster};
use consumer_core::{AutoOffsetReset, ConsumerError};

fn api_versions_asked(cluster: &TestCluster, node: i32) -> Vec<i16> {
    cluster
        .requests_of(ApiKey::ApiVersions)
        .iter()
        .filter(|r| r.node == node)
        .map(|r| r.version)
        .collect()
}

#[test]
fn an_old_broker_gets_apiversions_again_at_a_version_it_knows() {
    let mut cluster = TestCluster::builder()
        .brokers(1)
        .profile(Profile::mock_cluster()) // ApiVersions 0-2
        .topic("t", 1)
        .build();
    cluster.fill(&tp("t", 0), 3, 3);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([tp("t", 0)]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 3, 100);

    let newest = ApiKey::ApiVersions.versions().max;
    assert_eq!(api_versions_asked(&cluster, -1), vec![newest, 2]);
    // The next connection to the same cluster starts at the version that worked.
    assert_eq!(api_versions_asked(&cluster, 1), vec![2]);
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn a_broker_knowing_only_apiversions_v0_is_asked_at_v0() {
    let mut cluster = TestCluster::builder()
        .brokers(1)
        .profile(Profile::mock_cluster().with(ApiKey::ApiVersions, 0, 0))
        .topic("t", 1)
        .build();
    cluster.fill(&tp("t", 0), 2, 2);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([tp("t", 0)]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 2, 100);
    assert_eq!(
        api_versions_asked(&cluster, -1),
        vec![ApiKey::ApiVersions.versions().max, 0]
    );
}

#[test]
fn each_broker_is_spoken_to_at_its_own_versions() {
    let mut cluster = TestCluster::builder().brokers(2).topic("t", 2).build();
    cluster.brokers.get_mut(&2).unwrap().profile = Profile::mock_cluster();
    cluster.fill(&tp("t", 0), 4, 2); // led by broker 1 (modern)
    cluster.fill(&tp("t", 1), 4, 2); // led by broker 2 (old)
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([tp("t", 0), tp("t", 1)]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 8, 100);

    assert_eq!(cluster.offsets_of(&tp("t", 0)), vec![0, 1, 2, 3]);
    assert_eq!(cluster.offsets_of(&tp("t", 1)), vec![0, 1, 2, 3]);
    let fetch_versions = |broker| -> Vec<i16> {
        cluster
            .requests_of(ApiKey::Fetch)
            .iter()
            .filter(|r| r.broker == broker)
            .map(|r| r.version)
            .collect()
    };
    assert!(fetch_versions(1)
        .iter()
        .all(|v| *v == ApiKey::Fetch.versions().max));
    assert!(fetch_versions(2).iter().all(|v| *v == 11));
    let lookup_versions: Vec<(i32, i16)> = cluster
        .requests_of(ApiKey::ListOffsets)
        .iter()
        .map(|r| (r.broker, r.version))
        .collect();
    assert!(lookup_versions.contains(&(1, ApiKey::ListOffsets.versions().max)));
    assert!(lookup_versions.contains(&(2, 5)));
    // The old broker refused the newest ApiVersions the modern ones answered, once.
    let newest = ApiKey::ApiVersions.versions().max;
    assert_eq!(api_versions_asked(&cluster, 2), vec![newest, 2]);
}

#[test]
fn a_modern_broker_behind_an_old_one_still_gets_its_newest_versions() {
    let mut cluster = TestCluster::builder().brokers(2).topic("t", 2).build();
    cluster.brokers.get_mut(&1).unwrap().profile = Profile::mock_cluster();
    cluster.fill(&tp("t", 0), 3, 3); // led by broker 1 (old, also the bootstrap)
    cluster.fill(&tp("t", 1), 3, 3); // led by broker 2 (modern)
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([tp("t", 0), tp("t", 1)]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 6, 100);

    // Broker 2 is asked the ApiVersions version the old one answered (no refusal), and
    // its answer still lists its own ranges: its Fetch is above the old broker's 11, the
    // newest without topic ids (the metadata came from the old broker, which has none).
    let newest = ApiKey::ApiVersions.versions().max;
    assert_eq!(api_versions_asked(&cluster, -1), vec![newest, 2]);
    assert_eq!(api_versions_asked(&cluster, 2), vec![2]);
    assert!(cluster
        .requests_of(ApiKey::Fetch)
        .iter()
        .filter(|r| r.broker == 2)
        .all(|r| r.version == FIRST_TOPIC_ID_VERSION - 1));
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn a_broker_with_no_common_fetch_version_is_reported_naming_fetch() {
    let mut cluster = TestCluster::builder().brokers(2).topic("t", 2).build();
    // Broker 2 is too old to fetch from: Fetch 0-3, below the 4 we need.
    cluster.brokers.get_mut(&2).unwrap().profile =
        Profile::mock_cluster().with(ApiKey::Fetch, 0, 3);
    cluster.fill(&tp("t", 0), 3, 3);
    cluster.fill(&tp("t", 1), 3, 3);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([tp("t", 0), tp("t", 1)]).unwrap();

    cluster.drive(
        &mut consumer,
        |_, c| !c.errors.is_empty() && c.received.len() == 3,
        100,
    );
    cluster.run_for(&mut consumer, std::time::Duration::from_secs(2));

    let expected = ConsumerError::UnsupportedVersion(VersionError::NoCommonVersion {
        api: ApiKey::Fetch,
        ours: ApiKey::Fetch.versions(),
        theirs: VersionRange::new(0, 3),
    });
    assert_eq!(
        cluster.errors.len(),
        1,
        "reported once, not retried in a loop"
    );
    assert_eq!(cluster.errors[0], expected);
    assert!(cluster.errors[0].to_string().contains("Fetch"));
    // The partition on the good broker is consumed all the same; nothing is fetched from
    // broker 2.
    assert_eq!(cluster.offsets_of(&tp("t", 0)), vec![0, 1, 2]);
    assert!(cluster.offsets_of(&tp("t", 1)).is_empty());
    assert!(cluster
        .requests_of(ApiKey::Fetch)
        .iter()
        .all(|r| r.broker == 1));
}

#[test]
fn a_broker_with_no_common_list_offsets_version_is_reported_naming_it() {
    let mut cluster = TestCluster::builder()
        .brokers(1)
        .profile(Profile::mock_cluster().with(ApiKey::ListOffsets, 0, 0))
        .topic("t", 1)
        .build();
    cluster.fill(&tp("t", 0), 3, 3);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([tp("t", 0)]).unwrap();
    cluster.drive(&mut consumer, |_, c| !c.errors.is_empty(), 100);

    match &cluster.errors[0] {
        ConsumerError::UnsupportedVersion(VersionError::NoCommonVersion { api, .. }) => {
            assert_eq!(*api, ApiKey::ListOffsets)
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(cluster.count(ApiKey::ListOffsets), 0);
    // A seek needs no lookup: consumption works without ListOffsets.
    consumer.seek(&tp("t", 0), 1).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 2, 100);
    assert_eq!(cluster.offsets_of(&tp("t", 0)), vec![1, 2]);
}
