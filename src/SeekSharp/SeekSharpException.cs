namespace SeekSharp;

/// <summary>
/// An error caused by the user's input (a file, a config, a flag) rather than a bug. The message
/// names the file or field and what was expected; the CLI prints it without a stack trace.
/// </summary>
public class SeekSharpException(string message, Exception? inner = null) : Exception(message, inner);
