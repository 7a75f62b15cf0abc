using System.Security.Cryptography;
using System.Text;
using SeekSharp.Modeling;

namespace SeekSharp.Distributed.Pipeline;

// Who may become a stage: the run's join token (kept as its SHA-256), the same build (a stage of another code version
// would compute a different function of the same weights, or speak another wire format), and, when the stage names the
// model it expects (`seek stage --preset`), the run's model. Stage numbers go to joiners in order of arrival.

public sealed class Admission(string tokenSha256, int stages, ModelConfig run, Action<string>? say = null)
{
    readonly object gate = new();
    readonly List<string> names = [];

    /// <summary>This build's identity: the pipeline protocol and the modules that compute and carry a stage.</summary>
    public static string CodeVersion { get; } =
        $"pipeline-1/{typeof(Transformer).Assembly.ManifestModule.ModuleVersionId:N}/{typeof(Admission).Assembly.ManifestModule.ModuleVersionId:N}";

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>Stages admitted so far, by number.</summary>
    public IReadOnlyList<string> Names { get { lock (gate) return names.ToList(); } }

    public StageJoinReply Join(StageJoin request)
    {
        lock (gate)
        {
            var reason = Check(request, tokenSha256, run, Admission.CodeVersion);
            if (reason is null && names.Count >= stages) reason = $"the pipeline already has its {stages} stage(s).";
            if (reason is not null)
            {
                say?.Invoke($"refused stage {request.Name}: {reason}");
                return new StageJoinReply { Accepted = false, Reason = reason };
            }
            names.Add(request.Name);
            say?.Invoke($"stage {names.Count - 1} joined: {request.Name}");
            return new StageJoinReply { Accepted = true, Stage = names.Count - 1 };
        }
    }

    /// <summary>Why <paramref name="request"/> may not join a run of <paramref name="run"/> built as <paramref name="version"/>, or null.</summary>
    public static string? Check(StageJoin request, string tokenSha256, ModelConfig run, string version)
    {
        if (Hash(request.Token) != tokenSha256) return "join token: not this run's (the driver prints it).";
        if (request.Version != version)
            return $"stage {request.Name}: code version {request.Version} differs from the driver's {version} (run the same build on every machine).";
        if (request.ModelConfigJson is { } json)
        {
            var theirs = ModelConfig.FromJson(json, $"stage {request.Name}: model config") with { VocabSize = run.VocabSize };
            if (theirs.ToJson() != run.ToJson())
                return $"stage {request.Name}: --preset {theirs.Preset ?? "?"} is not the run's model ({run.Preset ?? "custom"}).";
        }
        return null;
    }
}
