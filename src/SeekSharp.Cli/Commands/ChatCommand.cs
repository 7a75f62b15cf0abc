using System.CommandLine;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek chat ...`: alignment stages. Each subcommand lives in its own file.</summary>
public static class ChatCommand
{
    public static Command Create() => new("chat", "Alignment: supervised fine-tuning, LoRA, reward models, GRPO, rejection sampling, evaluation; and talking to the result.")
    {
        ChatSftCommand.Create(),
        ChatMergeCommand.Create(),
        ChatRmCommand.Create(),
        ChatRlCommand.Create(),
        ChatSampleCommand.Create(),
        ChatEvalCommand.Create(),
        ChatTalkCommand.Create(),
    };
}
