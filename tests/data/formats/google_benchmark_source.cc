#include <benchmark/benchmark.h>
#include <algorithm>
#include <random>
#include <vector>
static void BM_Sort(benchmark::State& state) {
  std::mt19937 gen(42);
  std::vector<int> data(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& x : data) x = gen();
    state.ResumeTiming();
    std::sort(data.begin(), data.end());
    benchmark::DoNotOptimize(data.data());
  }
}
BENCHMARK(BM_Sort)->Arg(1024);
BENCHMARK(BM_Sort)->Arg(65536)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
