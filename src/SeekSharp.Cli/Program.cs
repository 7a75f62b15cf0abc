using SeekSharp.Cli;
using SeekSharp.Native;

MallocTuning.ReexecIfNeeded(args); // see MallocTuning: ~1.6x faster training on glibc
return SeekApp.Run(args);
