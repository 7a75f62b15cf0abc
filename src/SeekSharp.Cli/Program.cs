using SeekSharp.Cli;

return SeekApp.Run(args);
