// Placeholder until the demo (the embedded cloud running the example stack) lands.
console.log('sparkless: demo not yet available');
