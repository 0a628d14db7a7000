// Placeholder until the benchmarks land.
console.log('sparkless: benchmarks not yet available');
