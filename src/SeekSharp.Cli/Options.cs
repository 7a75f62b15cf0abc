using System.CommandLine;

namespace SeekSharp.Cli;

/// <summary>Options several commands share, built fresh per command (an Option belongs to one parent).</summary>
public static class Options
{
    public static Option<string> Device() => new("--device")
    {
        Description = "Torch device: cpu, or cuda / cuda:N with a CUDA build of TorchSharp.",
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<string[]> Inputs(string description) => new("--input")
    {
        Description = description, Required = true, AllowMultipleArgumentsPerToken = true,
    };

    public static Option<string> Out(string description, bool required = true) => new("--out")
    {
        Description = description, Required = required,
    };

    public static Option<string?> Hardware() => new("--hardware")
    {
        Description = "Hardware profile JSON for the ledger (watts, $/hour, gCO2/kWh), or a shipped one: cpu, a100, h100, h800; default: $SEEKSHARP_HARDWARE, ~/.config/seeksharp/hardware.json, else cpu.",
    };
}
