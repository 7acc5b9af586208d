# fish completion for tern. Installed as vendor_completions.d/tern.fish.
# Account and folder names come from `tern complete`, which reads only the
# config and the local index (never the network).

set -l tern_commands accounts account attachments delete doctor fetch flag folders help list move queue read send tui

# -c FILE / --config FILE / --config=FILE given on the command line so far
function __tern_cfg
    set -l toks (commandline -opc)
    set -l n (count $toks)
    for i in (seq 2 $n)
        switch $toks[$i]
            case -c --config
                set -l j (math $i + 1)
                if test $j -le $n
                    echo -c
                    echo $toks[$j]
                end
                return
            case '--config=*'
                echo $toks[$i]
                return
        end
    end
end

function __tern_accounts
    tern (__tern_cfg) complete accounts 2>/dev/null
end

function __tern_folders
    set -l toks (commandline -opc)
    set -l acct
    set -l n (count $toks)
    for i in (seq 2 $n)
        switch $toks[$i]
            case -a --account
                set -l j (math $i + 1)
                if test $j -le $n
                    set acct -a $toks[$j]
                end
            case '--account=*'
                set acct -a (string replace -- '--account=' '' $toks[$i])
        end
    end
    tern (__tern_cfg) complete folders $acct 2>/dev/null
end

# the subcommand, skipping global options (and the -c argument)
function __tern_subcommand
    set -l toks (commandline -opc)
    set -l skip 0
    for t in $toks[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $t
            case -c --config
                set skip 1
            case '-*'
            case '*'
                echo $t
                return
        end
    end
end

function __tern_using
    set -l sub (__tern_subcommand)
    test "$sub" = "$argv[1]"
end

complete -c tern -f

# global options and the commands
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -s c -l config -r -F -d 'configuration file'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -l debug -d 'redacted protocol trace'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -l version -d 'print the version'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -s h -l help -d 'print help'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a accounts -d 'list the configured accounts'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a account -d 'add an account'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a attachments -d 'attachments of a message file'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a delete -d 'move to Trash or delete'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a doctor -d 'check accounts; pin a server key'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a fetch -d 'download new mail'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a flag -d 'change message flags'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a folders -d 'list folders'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a help -d 'help for a command'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a list -d 'list messages'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a move -d 'move messages to a folder'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a queue -d 'show or flush the outbox'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a read -d 'show a message file'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a send -d 'send mail'
complete -c tern -n "not __fish_seen_subcommand_from $tern_commands" -a tui -d 'full-screen interface'

# -a ACCOUNT, for the commands that take it
for c in list folders flag move delete fetch queue send tui doctor read attachments
    complete -c tern -n "__tern_using $c" -s a -l account -x -a '(__tern_accounts)' -d account
end

complete -c tern -n '__tern_using help' -x -a "$tern_commands"
complete -c tern -n '__tern_using accounts' -l json -d 'JSON output'

complete -c tern -n '__tern_using account; and not __fish_seen_subcommand_from add' -x -a add -d 'add an account'
complete -c tern -n '__tern_using account' -l name -x -d 'account name'
complete -c tern -n '__tern_using account' -l address -x -d 'email address'
complete -c tern -n '__tern_using account' -l incoming -x -a 'imap pop3' -d 'incoming protocol'
complete -c tern -n '__tern_using account' -l host -x -d 'incoming server'
complete -c tern -n '__tern_using account' -l port -x -d 'incoming port (both TLS modes tried)'
complete -c tern -n '__tern_using account' -l ports -x -d 'ports to try, e.g. 993/implicit,143'
complete -c tern -n '__tern_using account' -l tls -x -a 'implicit starttls' -d 'incoming TLS mode'
complete -c tern -n '__tern_using account' -l smtp-host -x -a none -d 'SMTP server, or none'
complete -c tern -n '__tern_using account' -l smtp-port -x -d 'SMTP port'
complete -c tern -n '__tern_using account' -l smtp-ports -x -d 'SMTP ports to try'
complete -c tern -n '__tern_using account' -l smtp-tls -x -a 'implicit starttls' -d 'SMTP TLS mode'
complete -c tern -n '__tern_using account' -l user -x -d 'login name'
complete -c tern -n '__tern_using account' -l password-command -x -d 'command that prints the password'
complete -c tern -n '__tern_using account' -l ca-file -r -F -d 'CA certificate file'
complete -c tern -n '__tern_using account' -l pin -x -d 'server key pin (sha256//...)'
complete -c tern -n '__tern_using account' -l real-name -x -d 'your name for From'
complete -c tern -n '__tern_using account' -l timeout -x -d 'seconds per network wait'
complete -c tern -n '__tern_using account' -l keep -d 'POP3: leave mail on the server'
complete -c tern -n '__tern_using account' -l no-probe -d 'do not connect, just write'
complete -c tern -n '__tern_using account' -l yes -d 'do not ask before writing'

complete -c tern -n '__tern_using attachments' -s f -l file -r -F -d 'message file'
complete -c tern -n '__tern_using attachments' -l save -x -a '(__fish_complete_directories)' -d 'directory'
complete -c tern -n '__tern_using attachments' -l json -d 'JSON output'
complete -c tern -n '__tern_using delete' -l expunge -d 'delete for good'
complete -c tern -n '__tern_using doctor' -l json -d 'JSON output'
complete -c tern -n '__tern_using doctor' -l trust -d 'show the certificate and pin its key'
complete -c tern -n '__tern_using doctor' -s y -l yes -d 'write the pin without asking'
complete -c tern -n '__tern_using doctor' -l replace -d 'replace a pin whose key changed'
complete -c tern -n '__tern_using fetch' -s q -l quiet -d 'print only errors'
complete -c tern -n '__tern_using fetch' -l json -d 'JSON output'
complete -c tern -n '__tern_using fetch' -l bodies -d 'download IMAP bodies too'
complete -c tern -n '__tern_using flag' -x -a '+seen -seen +flagged -flagged +answered -answered'
complete -c tern -n '__tern_using folders' -l json -d 'JSON output'
complete -c tern -n '__tern_using list' -s f -l folder -x -a '(__tern_folders)' -d folder
complete -c tern -n '__tern_using list' -s n -l limit -x -d 'newest N'
complete -c tern -n '__tern_using list' -l unread -d 'unread only'
complete -c tern -n '__tern_using list' -l search -x -d 'text to look for'
complete -c tern -n '__tern_using list' -l json -d 'JSON output'
complete -c tern -n '__tern_using move' -x -a '(__tern_folders)'
complete -c tern -n '__tern_using queue' -l json -d 'JSON output'
complete -c tern -n '__tern_using queue' -l flush -d 'send what is due'
complete -c tern -n '__tern_using queue' -l force -d 'with --flush: also what is not due'
complete -c tern -n '__tern_using queue' -l delete -x -d 'remove an entry'
complete -c tern -n '__tern_using read' -s f -l file -r -F -d 'message file'
complete -c tern -n '__tern_using read' -l json -d 'JSON output'
complete -c tern -n '__tern_using read' -l raw -d 'the message as it is'
complete -c tern -n '__tern_using read' -l no-mark -d 'do not mark the message seen'
complete -c tern -n '__tern_using send' -l to -x -d recipient
complete -c tern -n '__tern_using send' -l cc -x -d copy
complete -c tern -n '__tern_using send' -l bcc -x -d 'blind copy'
complete -c tern -n '__tern_using send' -l subject -x -d subject
complete -c tern -n '__tern_using send' -l attach -r -F -d 'attach a file'
complete -c tern -n '__tern_using send' -l from -x -d sender
complete -c tern -n '__tern_using send' -l reply-to -x -d 'reply address'
complete -c tern -n '__tern_using send' -l header -x -d 'extra header'
complete -c tern -n '__tern_using send' -l no-queue -d 'fail instead of queueing'
complete -c tern -n '__tern_using send' -l batch -r -F -d 'send message files'
