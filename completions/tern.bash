# bash completion for tern                                   -*- shell-script -*-
# Installed as bash-completion/completions/tern. Subcommands and options
# are listed here; account and folder names come from `tern complete`,
# which reads only the config and the local index (never the network).
# Works with plain bash too: it uses nothing from the bash-completion
# package.

_tern_words()
{
    # complete "$cur" from a newline-separated list, keeping spaces in
    # names (folder names may have them)
    local w
    while IFS= read -r w; do
        [[ -n $w && $w == "$cur"* ]] && COMPREPLY+=("$(printf '%q' "$w")")
    done
}

_tern()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()

    # the global options and the subcommand
    local i cmd= cmdi=0
    local -a cfg=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -c | --config)
            cfg=(-c "${COMP_WORDS[i + 1]}")
            ((i++))
            ;;
        --config=*) cfg=("${COMP_WORDS[i]}") ;;
        -*) ;;
        *)
            cmd=${COMP_WORDS[i]}
            cmdi=$i
            break
            ;;
        esac
    done

    local commands="accounts account attachments delete doctor fetch flag folders help list move queue read send tui"

    if [[ -z $cmd ]]; then
        case $prev in
        -c | --config)
            COMPREPLY=($(compgen -f -- "$cur"))
            return
            ;;
        esac
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-c --config --debug --version --help" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    # the -a ACCOUNT given so far, for folder names
    local acct=
    for ((i = cmdi + 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -a | --account) acct=${COMP_WORDS[i + 1]} ;;
        --account=*) acct=${COMP_WORDS[i]#--account=} ;;
        esac
    done
    local -a aopt=()
    [[ -n $acct ]] && aopt=(-a "$acct")

    # option values
    case $prev in
    -a | --account)
        _tern_words < <(tern "${cfg[@]}" complete accounts 2>/dev/null)
        return
        ;;
    -f | --folder)
        if [[ $cmd == list ]]; then
            _tern_words < <(tern "${cfg[@]}" complete folders "${aopt[@]}" 2>/dev/null)
            return
        fi
        if [[ $cmd == read || $cmd == attachments ]]; then
            COMPREPLY=($(compgen -f -- "$cur") $(compgen -W "-" -- "$cur"))
            return
        fi
        ;;
    --file | --attach | --batch | --ca-file)
        COMPREPLY=($(compgen -f -- "$cur"))
        [[ $prev == --file ]] && COMPREPLY+=($(compgen -W "-" -- "$cur"))
        return
        ;;
    --save)
        COMPREPLY=($(compgen -d -- "$cur"))
        return
        ;;
    --incoming)
        COMPREPLY=($(compgen -W "imap pop3" -- "$cur"))
        return
        ;;
    --tls | --smtp-tls)
        COMPREPLY=($(compgen -W "implicit starttls" -- "$cur"))
        return
        ;;
    --smtp-host)
        COMPREPLY=($(compgen -W "none" -- "$cur"))
        return
        ;;
    -n | --limit | --search | --subject | --to | --cc | --bcc | --from | --reply-to | --header | \
        --delete | --name | --address | --host | --port | --ports | --smtp-port | --smtp-ports | \
        --user | --password-command | --pin | --real-name | --timeout | -F)
        return
        ;;
    esac

    local opts=
    case $cmd in
    accounts) opts="--json" ;;
    account)
        if ((COMP_CWORD == cmdi + 1)); then
            COMPREPLY=($(compgen -W "add" -- "$cur"))
            return
        fi
        opts="--name --address --incoming --host --port --ports --tls --smtp-host --smtp-port
              --smtp-ports --smtp-tls --user --password-command --ca-file --pin --real-name
              --keep --no-probe --timeout --yes"
        ;;
    attachments) opts="-a --account --file --save --json" ;;
    delete) opts="-a --account --expunge" ;;
    doctor) opts="-a --account --json --trust --yes --replace" ;;
    fetch) opts="-a --account -q --quiet --json --bodies" ;;
    flag)
        opts="-a --account"
        if [[ $cur == [+-]* && $cur != -a* ]]; then
            COMPREPLY=($(compgen -W "+seen -seen +flagged -flagged +answered -answered -a --account" -- "$cur"))
            return
        fi
        ;;
    folders) opts="-a --account --json" ;;
    help)
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        return
        ;;
    list) opts="-a --account -f --folder -n --limit --unread --search --json" ;;
    move)
        opts="-a --account"
        if [[ $cur != -* ]]; then
            # IDs are numbers; anything else typed here is the folder
            if [[ -n $cur && $cur != [0-9]* ]] || [[ $prev == [0-9]* ]]; then
                _tern_words < <(tern "${cfg[@]}" complete folders "${aopt[@]}" 2>/dev/null)
            fi
            return
        fi
        ;;
    queue) opts="-a --account --json --flush --force --delete" ;;
    read) opts="-a --account --file --json --raw --no-mark" ;;
    send)
        opts="-a --account --to --cc --bcc --subject --attach --from --reply-to --header
              --no-queue --batch -t -i -f -F"
        ;;
    tui) opts="-a --account" ;;
    *) return ;;
    esac
    if [[ $cur == -* || -z $cur ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    fi
}

complete -F _tern tern
