// The package's main entry: the public API of lib/core. A stub until that API is exported here.
export {};
