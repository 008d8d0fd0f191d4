use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn sort(n: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).map(|i| (i * 2654435761) % 1000003).collect();
    v.sort();
    v
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("sort");
    group.bench_function("small", |b| b.iter(|| sort(black_box(1000))));
    group.bench_function("large", |b| b.iter(|| sort(black_box(20000))));
    group.finish();
}

criterion_group!(all, benches);
criterion_main!(all);
