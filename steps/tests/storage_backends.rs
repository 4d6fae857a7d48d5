//! The tech-pack storage's semantics, one set of tests run against both backends: the
//! embedded one (sled + blob files in a temp dir) and PostgreSQL (a fresh database on the
//! throw-away server of `techpack-pg-harness`; skipped loudly when PostgreSQL is absent).
//!
//! Each semantics test is a function over `&Catalog`, called for both; the PostgreSQL-only
//! tests below them check what an operator sees with SQL.

use std::sync::Arc;

use serde_json::json;
use techpack_engine::store::SledStore;
use techpack_engine::store::postgres::{PgPool, PoolOptions};
use techpack_pg_harness::PgServer;
use techpack_steps::providers::Usage;
use techpack_steps::storage::cache::CacheKey;
use techpack_steps::storage::{
    AiOperation, AnalysisRecord, Catalog, CloseUpRecord, EditRecord, ImageRevision, RevisionOrigin,
    SketchRecord, StorageError, sha256_hex,
};
use techpack_steps::techpack::{Callout, CalloutKind, CloseUpAnalysis, View};

/// A sled-backed catalog in a temp dir (kept as long as the catalog).
struct Embedded {
    catalog: Catalog,
    _store: SledStore,
    _dir: tempfile::TempDir,
}

fn embedded() -> Embedded {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("state")).unwrap();
    let catalog = Catalog::open(store.db(), &dir.path().join("data")).unwrap();
    Embedded {
        catalog,
        _store: store,
        _dir: dir,
    }
}

/// A PostgreSQL-backed catalog in a fresh database, or `None` (skipped) without PostgreSQL.
struct Postgres {
    catalog: Catalog,
    pool: PgPool,
    server: &'static PgServer,
    url: String,
}

impl Postgres {
    fn sql(&self, sql: &str) -> String {
        self.server.psql(&self.url, sql)
    }
}

fn postgres() -> Option<Postgres> {
    let server = techpack_pg_harness::server()?;
    let url = server.database();
    let pool = PgPool::connect(&url, PoolOptions::default()).unwrap();
    let catalog = Catalog::open_postgres(&pool).unwrap();
    Some(Postgres {
        catalog,
        pool,
        server,
        url,
    })
}

/// Runs `test` on the embedded catalog, then on PostgreSQL (when installed).
fn on_both_backends(test: fn(&Catalog)) {
    let sled = embedded();
    test(&sled.catalog);
    if let Some(pg) = postgres() {
        test(&pg.catalog);
    }
}

fn pause() {
    // Timestamps are in milliseconds: records made in one would tie.
    std::thread::sleep(std::time::Duration::from_millis(3));
}

fn upload(
    catalog: &Catalog,
    product: &str,
    view: View,
    bytes: &[u8],
) -> Result<ImageRevision, StorageError> {
    let hash = catalog.blobs.put(bytes)?;
    catalog.add_revision(
        product,
        view,
        &hash,
        "image/png",
        40,
        30,
        RevisionOrigin::Upload,
    )
}

fn analysis(id: &str, product: &str, revisions: &[&str], created_at: u64) -> AnalysisRecord {
    AnalysisRecord {
        id: id.into(),
        product_id: product.into(),
        revision_ids: revisions.iter().map(|r| r.to_string()).collect(),
        provider: "local".into(),
        model: "classical".into(),
        data: json!({ "meta": { "category": "bag", "width": 0.25 } }).into(),
        history: Vec::new(),
        created_at,
        updated_at: created_at,
    }
}

fn close_up(id: &str, product: &str, analysis: &str, revision: &str, hash: &str) -> CloseUpRecord {
    CloseUpRecord {
        id: id.into(),
        product_id: product.into(),
        analysis_id: analysis.into(),
        detail: format!("detail of {id}"),
        image_hash: hash.into(),
        source_revision_id: revision.into(),
        crop: Some([1, 2, 30, 40]),
        analysis: CloseUpAnalysis {
            detail: "zipper".into(),
            materials: Vec::new(),
            construction: Vec::new(),
            notes: "a note".into(),
            confidence: 0.5,
        },
        provider: "local".into(),
        model: "crop".into(),
        created_at: 1_700_000_000_123,
    }
}

fn sketch(id: &str, product: &str, analysis: &str, view: View, hash: &str) -> SketchRecord {
    SketchRecord {
        id: id.into(),
        product_id: product.into(),
        analysis_id: analysis.into(),
        view,
        image_hash: hash.into(),
        width: 400,
        height: 300,
        callouts: vec![Callout {
            view,
            kind: CalloutKind::Part,
            x: 0.25,
            y: 0.75,
            text: "topstitch".into(),
            bom_ref: None,
            pom_ref: Some("POM-1".into()),
            line: None,
        }],
        provider: "local".into(),
        model: "canny".into(),
        created_at: 1_700_000_000_456,
    }
}

fn operation(id: &str, run: Option<&str>, user: Option<&str>, at: u64) -> AiOperation {
    AiOperation {
        id: id.into(),
        operation: "analyze-view".into(),
        provider: "openai".into(),
        model: "gpt-4o".into(),
        kind: "vision".into(),
        user: user.map(str::to_string),
        run_id: run.map(str::to_string),
        step_id: Some("base_views".into()),
        input_summary: "front 40x30".into(),
        output_summary: "ok".into(),
        usage: Usage {
            prompt_tokens: 100,
            completion_tokens: 20,
            total_tokens: 120,
        },
        latency_ms: 1234,
        status: "ok".into(),
        error: None,
        at,
    }
}

// ---- the semantics, for both backends ---------------------------------------------------

fn products(catalog: &Catalog) {
    let made = catalog
        .create_product("Tote", Some("canvas".into()), Some("alice".into()))
        .unwrap();
    assert!(made.id.starts_with("prod_"));
    assert_eq!(catalog.product(&made.id).unwrap(), made);
    assert!(matches!(
        catalog.product("prod_missing"),
        Err(StorageError::ProductNotFound(id)) if id == "prod_missing"
    ));

    // ensure_product: created once, then the stored one is returned unchanged.
    let first = catalog
        .ensure_product("prod_cli", "First name", None)
        .unwrap();
    let again = catalog
        .ensure_product("prod_cli", "Other name", Some("bob".into()))
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(catalog.product("prod_cli").unwrap().name, "First name");

    // A user's products, newest first.
    pause();
    let second = catalog
        .create_product("Boot", None, Some("alice".into()))
        .unwrap();
    catalog
        .create_product("Hat", None, Some("bob".into()))
        .unwrap();
    let alices: Vec<String> = catalog
        .products_of("alice")
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(alices, [second.id.clone(), made.id.clone()]);
    assert!(catalog.products_of("nobody").unwrap().is_empty());
}

fn ownership(catalog: &Catalog) {
    let alices = catalog
        .create_product("Tote", None, Some("alice".into()))
        .unwrap();
    let operators = catalog.ensure_product("prod_op", "CLI", None).unwrap();
    assert_eq!(
        catalog.owned_product(&alices.id, Some("alice")).unwrap(),
        alices
    );
    // Another user's product is not found (ids do not leak), the operator sees every one.
    assert!(matches!(
        catalog.owned_product(&alices.id, Some("bob")),
        Err(StorageError::ProductNotFound(_))
    ));
    assert!(matches!(
        catalog.owned_product(&operators.id, Some("alice")),
        Err(StorageError::ProductNotFound(_))
    ));
    assert_eq!(catalog.owned_product(&alices.id, None).unwrap(), alices);
    assert_eq!(
        catalog.owned_product(&operators.id, None).unwrap(),
        operators
    );
    assert!(matches!(
        catalog.owned_product("prod_missing", None),
        Err(StorageError::ProductNotFound(_))
    ));
}

fn revisions(catalog: &Catalog) {
    let product = catalog.create_product("Tote", None, None).unwrap();
    let front1 = upload(catalog, &product.id, View::Front, b"front one").unwrap();
    assert_eq!((front1.version, front1.is_current), (1, true));
    assert_eq!(front1.image_hash, sha256_hex(b"front one"));

    // The same bytes again: the current revision, nothing new.
    let again = upload(catalog, &product.id, View::Front, b"front one").unwrap();
    assert_eq!(again, front1);

    let back1 = upload(catalog, &product.id, View::Back, b"back one").unwrap();
    let front2 = upload(catalog, &product.id, View::Front, b"front two").unwrap();
    assert_eq!((front2.version, front2.is_current), (2, true));
    // A regenerated revision is new even with the current one's bytes.
    let origin = RevisionOrigin::Regenerated {
        from_revision_id: front2.id.clone(),
        prompt: Some("clean up".into()),
    };
    let front3 = catalog
        .add_revision(
            &product.id,
            View::Front,
            &front2.image_hash,
            "image/png",
            40,
            30,
            origin.clone(),
        )
        .unwrap();
    assert_eq!((front3.version, front3.is_current), (3, true));
    assert_eq!(front3.origin, origin);

    // Every revision, by view (front before back) then version; one current per view.
    let listed = catalog.revisions(&product.id).unwrap();
    let shape: Vec<(View, u32, bool)> = listed
        .iter()
        .map(|r| (r.view, r.version, r.is_current))
        .collect();
    assert_eq!(
        shape,
        [
            (View::Front, 1, false),
            (View::Front, 2, false),
            (View::Front, 3, true),
            (View::Back, 1, true),
        ]
    );
    assert_eq!(listed[2], front3);
    assert_eq!(listed[3], back1);

    // By product and id, and by id alone.
    let stored = catalog.revision(&product.id, &front1.id).unwrap();
    assert_eq!(stored.id, front1.id);
    assert!(!stored.is_current);
    assert_eq!(catalog.revision_by_id(&back1.id).unwrap(), back1);
    let other = catalog.create_product("Other", None, None).unwrap();
    assert!(matches!(
        catalog.revision(&other.id, &front1.id),
        Err(StorageError::RevisionNotFound { product, revision })
            if product == other.id && revision == front1.id
    ));
    assert!(matches!(
        catalog.revision_by_id("rev_missing"),
        Err(StorageError::PhotoNotFound(id)) if id == "rev_missing"
    ));
    assert!(catalog.revisions(&other.id).unwrap().is_empty());

    // No revision of a product that does not exist.
    assert!(matches!(
        upload(catalog, "prod_missing", View::Front, b"x"),
        Err(StorageError::ProductNotFound(_))
    ));
}

fn analyses(catalog: &Catalog) {
    let product = catalog.create_product("Tote", None, None).unwrap();
    let other = catalog.create_product("Other", None, None).unwrap();
    let front = upload(catalog, &product.id, View::Front, b"front").unwrap();
    assert!(catalog.analyses_of(&product.id).unwrap().is_empty());
    assert_eq!(catalog.latest_analysis(&product.id).unwrap(), None);

    for (id, at) in [
        ("an_b", 3_000),
        ("an_a", 1_000),
        ("an_c", 2_000),
        ("an_d", 2_000),
    ] {
        catalog
            .put_analysis(&analysis(id, &product.id, &[&front.id], at))
            .unwrap();
    }
    catalog
        .put_analysis(&analysis("an_other", &other.id, &[], 5_000))
        .unwrap();

    // Oldest first (ties by id); the newest is the last, and `latest_analysis`.
    let ids = |list: Vec<AnalysisRecord>| list.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(catalog.analyses_of(&product.id).unwrap()),
        ["an_a", "an_c", "an_d", "an_b"]
    );
    assert_eq!(
        catalog.latest_analysis(&product.id).unwrap().unwrap().id,
        "an_b"
    );
    assert_eq!(ids(catalog.analyses_of(&other.id).unwrap()), ["an_other"]);

    // An edit replaces the record; the product still has it once.
    let mut edited = catalog.analysis("an_a").unwrap();
    assert_eq!(edited, analysis("an_a", &product.id, &[&front.id], 1_000));
    let mut data = edited.data.value().unwrap();
    data["meta"]["category"] = json!("backpack");
    edited.data = data.into();
    edited.history.push(EditRecord {
        path: "/meta/category".into(),
        old_value: json!("bag"),
        new_value: json!("backpack"),
        instruction: None,
        provider: "local".into(),
        at: 4_000,
    });
    edited.updated_at = 4_000;
    catalog.put_analysis(&edited).unwrap();
    assert_eq!(catalog.analysis("an_a").unwrap(), edited);
    assert_eq!(catalog.analyses_of(&product.id).unwrap().len(), 4);

    assert!(matches!(
        catalog.analysis("an_missing"),
        Err(StorageError::AnalysisNotFound(id)) if id == "an_missing"
    ));
    assert!(matches!(
        catalog.put_analysis(&analysis("an_x", "prod_missing", &[], 1)),
        Err(StorageError::ProductNotFound(_))
    ));
    assert!(matches!(
        catalog.analysis("an_x"),
        Err(StorageError::AnalysisNotFound(_))
    ));
}

fn close_ups_and_sketches(catalog: &Catalog) {
    let product = catalog.create_product("Tote", None, None).unwrap();
    let other = catalog.create_product("Other", None, None).unwrap();
    let front = upload(catalog, &product.id, View::Front, b"front").unwrap();
    catalog
        .put_analysis(&analysis("an_1", &product.id, &[&front.id], 1))
        .unwrap();
    let shot = catalog.blobs.put(b"close-up").unwrap();
    assert!(catalog.close_ups(&product.id).unwrap().is_empty());
    assert!(catalog.sketches(&product.id).unwrap().is_empty());

    // Listed by id; stored again under the same id (a resumed step), replaced.
    let b = close_up("cu_b", &product.id, "an_1", &front.id, &shot);
    let a = close_up("cu_a", &product.id, "an_1", &front.id, &shot);
    catalog.put_close_up(&b).unwrap();
    catalog.put_close_up(&a).unwrap();
    let mut b2 = b.clone();
    b2.detail = "stitching".into();
    catalog.put_close_up(&b2).unwrap();
    assert_eq!(catalog.close_ups(&product.id).unwrap(), [a, b2]);
    assert!(catalog.close_ups(&other.id).unwrap().is_empty());
    assert!(matches!(
        catalog.put_close_up(&close_up("cu_x", "prod_missing", "an_1", &front.id, &shot)),
        Err(StorageError::ProductNotFound(_))
    ));

    let drawing = catalog.blobs.put(b"drawing").unwrap();
    let back = sketch("sk_2", &product.id, "an_1", View::Back, &drawing);
    let front_sketch = sketch("sk_1", &product.id, "an_1", View::Front, &drawing);
    catalog.put_sketch(&back).unwrap();
    catalog.put_sketch(&front_sketch).unwrap();
    catalog.put_sketch(&front_sketch).unwrap();
    assert_eq!(catalog.sketches(&product.id).unwrap(), [front_sketch, back]);
    assert!(catalog.sketches(&other.id).unwrap().is_empty());
    assert!(matches!(
        catalog.put_sketch(&sketch("sk_x", "prod_missing", "an_1", View::Top, &drawing)),
        Err(StorageError::ProductNotFound(_))
    ));
}

fn cache(catalog: &Catalog) {
    let key = CacheKey {
        image_sha256: &sha256_hex(b"photo"),
        operation: "analyze-view",
        schema_version: "3",
        provider: "openai",
        model: "gpt-4o",
        variant: "front",
    };
    assert_eq!(catalog.cache.get::<serde_json::Value>(&key).unwrap(), None);
    assert!(!catalog.cache.contains(&key).unwrap());
    let answer = json!({ "category": "bag", "confidence": 0.875, "colours": ["#112233"] });
    catalog.cache.put(&key, &answer).unwrap();
    assert_eq!(catalog.cache.get(&key).unwrap(), Some(answer.clone()));
    assert!(catalog.cache.contains(&key).unwrap());

    // Any other part of the key is a miss.
    let back = CacheKey {
        variant: "back",
        ..key.clone()
    };
    let other_model = CacheKey {
        model: "gpt-4.1",
        ..key.clone()
    };
    assert_eq!(catalog.cache.get::<serde_json::Value>(&back).unwrap(), None);
    assert!(!catalog.cache.contains(&back).unwrap());
    assert_eq!(
        catalog
            .cache
            .get::<serde_json::Value>(&other_model)
            .unwrap(),
        None
    );

    // Stored again: replaced. What no longer reads as the asked type is a miss.
    catalog.cache.put(&key, &vec![1u32, 2, 3]).unwrap();
    assert_eq!(
        catalog.cache.get::<Vec<u32>>(&key).unwrap(),
        Some(vec![1, 2, 3])
    );
    assert_eq!(catalog.cache.get::<String>(&key).unwrap(), None);
}

fn ai_log(catalog: &Catalog) {
    assert!(catalog.ai_log.list(None, None).unwrap().is_empty());
    let given = catalog
        .ai_log
        .append(operation("op_00000002", Some("run_1"), Some("alice"), 20))
        .unwrap();
    assert_eq!(given.id, "op_00000002");
    catalog
        .ai_log
        .append(operation("op_00000001", Some("run_1"), None, 10))
        .unwrap();
    catalog
        .ai_log
        .append(operation("op_00000003", Some("run_2"), Some("alice"), 30))
        .unwrap();
    // An operation without an id gets a new one, time-ordered: after those made before.
    let made = catalog
        .ai_log
        .append(operation("", None, Some("bob"), 40))
        .unwrap();
    assert!(made.id.starts_with("op_"), "{}", made.id);

    let ids = |list: Vec<AiOperation>| list.into_iter().map(|o| o.id).collect::<Vec<_>>();
    assert_eq!(
        ids(catalog.ai_log.list(None, None).unwrap()),
        [
            "op_00000001",
            "op_00000002",
            "op_00000003",
            made.id.as_str()
        ]
    );
    assert_eq!(
        ids(catalog.ai_log.list(Some("run_1"), None).unwrap()),
        ["op_00000001", "op_00000002"]
    );
    assert_eq!(
        ids(catalog.ai_log.list(None, Some("alice")).unwrap()),
        ["op_00000002", "op_00000003"]
    );
    assert_eq!(
        ids(catalog.ai_log.list(Some("run_1"), Some("alice")).unwrap()),
        ["op_00000002"]
    );
    assert!(catalog.ai_log.list(Some("run_9"), None).unwrap().is_empty());
    // Stored whole.
    assert_eq!(
        catalog.ai_log.list(Some("run_2"), None).unwrap(),
        [operation("op_00000003", Some("run_2"), Some("alice"), 30)]
    );
}

fn blobs(catalog: &Catalog) {
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = catalog.blobs.put(&bytes).unwrap();
    assert_eq!(sha, sha256_hex(&bytes));
    assert_eq!(catalog.blobs.put(&bytes).unwrap(), sha);
    assert_eq!(catalog.blobs.get(&sha).unwrap(), bytes);
    let empty = catalog.blobs.put(b"").unwrap();
    assert_eq!(catalog.blobs.get(&empty).unwrap(), b"");

    let missing = sha256_hex(b"never stored");
    assert!(matches!(
        catalog.blobs.get(&missing),
        Err(StorageError::BlobMissing(s)) if s == missing
    ));
    let upper = sha.to_uppercase();
    for bad in ["", "../etc/passwd", "zz", upper.as_str()] {
        assert!(
            matches!(catalog.blobs.get(bad), Err(StorageError::BlobMissing(_))),
            "{bad}"
        );
    }
}

#[test]
fn products_create_get_list_ensure() {
    on_both_backends(products);
}

#[test]
fn another_users_product_is_not_found() {
    on_both_backends(ownership);
}

#[test]
fn revisions_versions_current_and_lookup_by_id() {
    on_both_backends(revisions);
}

#[test]
fn analyses_oldest_first_newest_last() {
    on_both_backends(analyses);
}

#[test]
fn close_ups_and_sketches_by_product() {
    on_both_backends(close_ups_and_sketches);
}

#[test]
fn analysis_cache_hit_and_miss() {
    on_both_backends(cache);
}

#[test]
fn ai_operation_log_append_and_filters() {
    on_both_backends(ai_log);
}

#[test]
fn blobs_put_get_dedup() {
    on_both_backends(blobs);
}

// ---- PostgreSQL only: what an operator sees -----------------------------------------------

#[test]
fn postgres_blobs_are_rows_deduplicated() {
    let Some(pg) = postgres() else { return };
    let sha = pg.catalog.blobs.put(b"the same photo").unwrap();
    pg.catalog.blobs.put(b"the same photo").unwrap();
    pg.catalog.blobs.put(b"another photo").unwrap();
    assert_eq!(pg.sql("SELECT count(*) FROM image_blobs"), "2");
    assert_eq!(
        pg.sql(&format!(
            "SELECT size, bytes = 'the same photo'::bytea FROM image_blobs WHERE sha256 = '{sha}'"
        )),
        "14|t"
    );
}

#[test]
fn postgres_tables_answer_relational_queries() {
    let Some(pg) = postgres() else { return };
    let catalog = &pg.catalog;
    let product = catalog
        .create_product("Tote", None, Some("alice".into()))
        .unwrap();
    upload(catalog, &product.id, View::Front, b"front one").unwrap();
    let front = upload(catalog, &product.id, View::Front, b"front two").unwrap();
    upload(catalog, &product.id, View::Back, b"back").unwrap();
    catalog
        .put_analysis(&analysis(
            "an_1",
            &product.id,
            &[&front.id],
            1_700_000_000_000,
        ))
        .unwrap();
    catalog
        .put_close_up(&close_up(
            "cu_1",
            &product.id,
            "an_1",
            &front.id,
            &front.image_hash,
        ))
        .unwrap();
    catalog
        .put_sketch(&sketch(
            "sk_1",
            &product.id,
            "an_1",
            View::Front,
            &front.image_hash,
        ))
        .unwrap();
    catalog
        .ai_log
        .append(operation(
            "op_1",
            Some("run_1"),
            Some("alice"),
            1_700_000_000_000,
        ))
        .unwrap();
    let id = &product.id;

    assert_eq!(
        pg.sql(&format!(
            "SELECT count(*) FROM image_revisions WHERE product_id = '{id}'"
        )),
        "3"
    );
    assert_eq!(
        pg.sql(&format!(
            "SELECT view, version FROM image_revisions
             WHERE product_id = '{id}' AND is_current ORDER BY view"
        )),
        "back|1\nfront|2"
    );
    assert_eq!(
        pg.sql(&format!(
            "SELECT p.owner, count(*) FROM products p JOIN image_revisions r ON r.product_id = p.id
             WHERE p.id = '{id}' GROUP BY p.owner"
        )),
        "alice|3"
    );
    assert_eq!(
        pg.sql(
            "SELECT a.id, a.created_at AT TIME ZONE 'UTC', a.record->'data'->'meta'->>'category',
                    (SELECT count(*) FROM close_ups c WHERE c.analysis_id = a.id),
                    (SELECT count(*) FROM sketches s WHERE s.analysis_id = a.id)
             FROM analyses a"
        ),
        "an_1|2023-11-14 22:13:20|bag|1|1"
    );
    assert_eq!(
        pg.sql(&format!(
            "SELECT count(*) FROM analyses WHERE '{}' = ANY (revision_ids)",
            front.id
        )),
        "1"
    );
    assert_eq!(
        pg.sql("SELECT user_name, run_id, total_tokens, latency_ms FROM ai_operation_logs"),
        "alice|run_1|120|1234"
    );
    // The lookups have their indexes.
    let indexes = pg.sql("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1");
    for index in [
        "analyses_product",
        "close_ups_product",
        "image_revisions_current",
        "products_owner",
        "sketches_product",
        "ai_operation_logs_run",
    ] {
        assert!(indexes.lines().any(|l| l == index), "{index} in {indexes}");
    }
    // The foreign keys refuse dangling records.
    let dangling = catalog.put_close_up(&close_up(
        "cu_2",
        &product.id,
        "an_missing",
        &front.id,
        &front.image_hash,
    ));
    assert!(
        matches!(&dangling, Err(StorageError::Backend(m)) if m.contains("foreign key")),
        "{dangling:?}"
    );
}

#[test]
fn postgres_migrations_run_once_and_workers_share_the_catalog() {
    let Some(pg) = postgres() else { return };
    let product = pg.catalog.create_product("Tote", None, None).unwrap();
    // A second worker on the same database: the migrations are applied already.
    let other_pool = PgPool::connect(&pg.url, PoolOptions::default()).unwrap();
    let other = Catalog::open_postgres(&other_pool).unwrap();
    assert_eq!(other.product(&product.id).unwrap(), product);
    assert_eq!(
        pg.sql("SELECT version FROM schema_migrations WHERE component = 'catalog'"),
        "1"
    );

    // Both add revisions of one view at once: versions 1..=n, exactly one current.
    let catalogs = [Arc::new(pg.catalog), Arc::new(other)];
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let catalog = catalogs[i % 2].clone();
            let product = product.id.clone();
            std::thread::spawn(move || {
                upload(
                    &catalog,
                    &product,
                    View::Front,
                    format!("photo {i}").as_bytes(),
                )
                .unwrap()
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let revisions = catalogs[0].revisions(&product.id).unwrap();
    let versions: Vec<u32> = revisions.iter().map(|r| r.version).collect();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    assert_eq!(revisions.iter().filter(|r| r.is_current).count(), 1);
    assert!(revisions.last().unwrap().is_current);
    drop(pg.pool);
}
