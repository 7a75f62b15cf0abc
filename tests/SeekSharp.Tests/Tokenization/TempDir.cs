namespace SeekSharp.Tests.Tokenization;

/// <summary>Fresh folders under the system temp dir; the OS cleans them, tests stay independent.</summary>
internal static class TempDir
{
    public static string Create()
    {
        var dir = Path.Combine(Path.GetTempPath(), "seeksharp-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
