//! Cost per value of sealing, opening and blind-indexing an ID number:
//! `cargo bench -p huigong-vault`.

use criterion::{Criterion, criterion_group, criterion_main};
use huigong_vault::{FieldContext, KeyMaterial, KeyRing};
use std::hint::black_box;
use uuid::Uuid;

fn vault(c: &mut Criterion) {
    let ring = KeyRing::new(&KeyMaterial::generate());
    let context = FieldContext {
        table: "people",
        column: "id_number_enc",
        row: Uuid::now_v7(),
    };
    let value = "11010519491231002X";
    let sealed = ring.seal(&context, value.as_bytes());
    c.bench_function("seal (18-byte ID number)", |b| {
        b.iter(|| ring.seal(black_box(&context), black_box(value.as_bytes())))
    });
    c.bench_function("open (18-byte ID number)", |b| {
        b.iter(|| ring.open(black_box(&context), black_box(&sealed)))
    });
    c.bench_function("blind index (18-byte ID number)", |b| {
        b.iter(|| ring.blind_index(black_box("people.id_number"), black_box(value)))
    });
}

criterion_group!(benches, vault);
criterion_main!(benches);
