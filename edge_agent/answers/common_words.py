"""Common English words, most common first: the whole lower-case words of SmolLM2's tokenizer (the
byte-pair vocabulary of the agent's default local model, Apache-2.0), in the order its merges were
learned, which follows their frequency in the model's English web text. Only the words of the
vocabulary's first 12,000 entries are kept (6111 words, a few tens of kB). A word the tokenizer
learned early is a common word ("ask" is entry 1998, "city" 2240); a late one or none is a rare word
("ferry" 31936, "headphones" 29424; "scrimshaw" is no entry)."""

from __future__ import annotations

from functools import cache

_WORDS = """
a the in of and to th re is be for st on that con you as pro with an or wh it are al ex de com he we su ch by
can at ne ha le se from en was not sh im this ab have wor int us your pl their ad whe cont res they comp dis all
imp will which do cl more te me other un has man ar about but app per sp ev out one if so were li also part comm
them stud pe qu up sy who into pre these its fe bec some tra how self ind when em his ro our may time under col
there bet than diff tr go cons ag ra over rec pr acc know people like hel act des year such rel been use help
new what would need through sa am eff work any import def bl ass spec gen tw had includ off most prov ph reg
differe ac no ob produ inv mod develop many di rem add used only sc first child system att get inst between two
ret fl inf learn where sur sub exam inter po pers trans pol exper could co supp num health sm should str her
well bu ty val pres expl var rese sim different every ke high world even form water sign just make exp years ref
set commun cre disc techn data requ call hum ed gra my med see det then result those way each ins because effect
bel while process during found art count long pat dec fol after gener ext cent incre loc return dist prog sk
read ent using partic pub ca cur lead aut rep hist fact test life comple fam very being fun own she find
understand right resp person back students dep both follow writ important does gl grow car min much main conf
che appro mon before information som grou sol sci el proble level study great end av food experi start children
good might school within class often around cor made said show pop same pract too power lit research vis br
design op provid activ again prot small allow adv mem mat serv care poss less example down take contin organ day
support cult quest human treat now individual gu state called equ point eng number cle redu build ser play
though prof aw ris body did must plan pos beh occ const aff cour est inc pot him common want met par ident
including ide dise three cell pass let typ educ iss elect don social govern impro char anal creat method invol
known real del conn ess without tem environment chang public still change signific better prom eas hand another
material report place learning pur opp interest present dr project ben sit list bre spe belie phys product feel
cap light development sym mus imm ele become energy open mean few caus keep others best fac include direct vari
various name history create top happ sever leg perform home proper stand et move among something mark look saf
things chall meas langu fin type large sl think desc air bas function against law group oper means rest control
dev here provide particular anim hy several significant bus based women pain area tre family potential due
object enc old current mult try program ens econom beg early fil lab cal ve toget together focus access last unt
ant es benef non turn lim struct disease orig fre risk soci fore success making print opt avail bi crit possible
low say impact key certain cr bo mil period run scient mill gr land fri blood case since specific local head
post along value order occur come discuss government text following across conc why addition cost times comput
areas profess hig understanding cause lik able toward problem ter systems bro associ view major course model
else prevent invest arg intern press hard line tool relations special available consider species community
future comb behav applic natural plant complex experience language role until rele respons second country men
polit rece young works always suggest exist levels indust problems put mar step today technology given strong
little sw cir character results range treatment age ways necess obs vol business book next far percent larg
determ flow four dem influ represent similar education short working challeng essential past space ill sing
amount free concept heart war vir later bir author conditions says needs words net give init mov paper kind mind
improve polic ey resources having skills field begin consum parent expect cells rad question teac pred tradition
knowledge changes appear jour issues estab story upon mot concern require relationship strateg difficult whether
log types prim sens ask temper enough likely record usually days histor address makes opportun away norm sum
questions further researc protect ever going dig individuals left path account i employ lay higher growth ur big
century collect full countries super increase situ connect fund sure stat science never recogn describ exc
physical cy side brain however plants death term unique especially ground groups above event activities least
maintain throughout contain particip emb subject sound near achie personal modern affect population dam studies
neg really rather became effects reason cancer quality relig liter nature practice chem loss associated pattern
building answ stre cases patients detail size cho hold someone vers lower general factors million comes explore
meet already student global doc word simple regard nut introdu city living single prob indic abs members wind
themselves materials source towards phot production observ respect dom either once seen deg thought deep ut job
according pay house researchers done emot interact team file ver cut required helps created activity analysis
fail products aspect engine integ online live fall np fig symptoms methods frequ medical lot market management
tot effic needed action animals political pie circ idea sent evidence quick flu reduce target necessary break
society soft surface recomm popular color ensure red writing rights sun mass actually parts mess seem values
lives port sometimes yet offic climate entire ge arr share increased rate came approach response friends
communities effective sal provides dest stress encou clear below image whole doct national subst developed
meaning pressure arch healthy exerc services events context ability taken increasing continue music money avoid
related compon instead adult emerg states taking considered tell micro culture allows ann review article mach
cannot thera challenges site five priv training economic white reading bal techniques check environmental drug
position tools mor behavior traditional except harm clos doing assess everyone skin clean compet itself computer
began published sense streng react week love critical remain weight demon la condition measure benefits offer
content true accept matter black separ draw bring rev took medic prote cultural sat cat feed experiences
instance regular parents cru green hab terms conduct oil sust implement express identify capt previous attention
structure stories etc dat produce region fish demonstr multiple select months sex provided diet face forms
practices total minim unit designed suff company elements industry positive creating consist hours vide reflect
almost shows half yourself aim psych heav bar service particularly fat doesn analy soil schools recent claim dog
farm contact eth involved programs thing contribut temperature mechan sources simply commit link original close
sleep deb easy gas er extra enjoy heat ste chemical ideas max spread enh travel surv built aware started led
issue historical pict longer fem performance greater stop written outside inj surround models aud wild compan
lands believe points diagn financ decl beaut correct slow movement fire behind progress threat assert mental
leading media books scientists communication code mom ones user remember fram standard viol uses evalu custom
adapt broad takes altern fru colle developing ec safety stay caused normal daily appropri wond write numbers
getting growing inside humans six includes importance causes policy smo basic answer leaders safe innov complete
accur reve insp sustain primary features prep input late looking page webs talk efforts exact tax achieve squ
shap guid opportunities scre thinking shape overall div investig independ visit average cross stru compared valu
damage shown camp earl appl decision cit strategies beyond requires force bacter patterns processes rout wid
kids network poll ful series warm lo bill lack scientific electric quite town earth magn probably theory attempt
foods quickly international cover request everything carbon collab cool pack output inform colon game eat
document predict visual prec appreci tri forest easily ago patient base animal night lif host families perspect
ir additional valuable sect variety teachers generally search wood civil digital poor gain cou veget tree
difference academ software serious influence ancient crucial lines becomes dou active reported financial
manufact situation larger teaching fit added optim bit prin companies hyd section isn included established table
applications calcul providing aspects ox tend images remains sil powerful prior application produced feet bur
speak hands friend fost security conflic steps hor gard concent bad thus mention ult ep transport soon directly
religious thous eye quant virus spirit sn immedi ang dang video determine establish appropriate relationships
ast belief responsible projects offers got named fasc estim waste diseases gradu convers rules places foot cele
expos os mother hot devices propos bab diverse military refer agree exercise proced incorpor expected trying
install road sus rates objects complet final cred decre held nav mix asked attack exploring options trees
interpre seems card und successful legal sea strugg rich typically front mis limited components nation journey
involves purpose whose vacc highly rob breat favor jud sold third useful central raise perfect reach therefore
stri clin device obtain examples learned minutes goal labor eyes dry costs memory property continu fair vit load
went transform demand length severe negative choose communic month chapter anything respond fast rapid
protection professional speed sequ although param categ explain pan status via fa novel solution fight mount
significantly symbol capital supply contribute cam differences capac behavi regarding version command room lost
contains habit adults wide shared autom advant dark bound block consequ citiz beginning principles workers
brought http ing emphas encourag structures users balance carry stage dim trust veh tests actions season private
exec doctor sec forces appe received literature discovered news agricult accom mag tim neigh graph acid limit
defin continued protein hon administ saw didn interesting earlier birth date der functions solar discover
location fear virt forward fields laws reasons leaves center message infection organizations cra items benefit
teach testing recommend mole trade measures weeks emp teacher bra machine compre vo depend therapy root resource
construct efficient won smaller prop controll ten challenge apply told copy egg shall opportunity illust initial
essay deal receive dynam piece eating authors located vict serve philos thr assign equipment degree website
hundred numerous hope util existing display names constant ax details repl journal moment properties concepts
initi collection task len solutions rare concerns feature architect effort exactly characters alg described
expand web nothing sites decisions exposure scen connection middle burn bott gives dead narr save affected
construction organization identity ice instru allowing contemporary nucle allowed nearly mid followed planet
acqu recently himself mut hous maxim leave goes rule bacteria mig platform swe older planning weather guide
goals beautiful reduced miss ded fresh connections technologies scale background infect hol standards pow fuel
sugar heard box fib born surrounding valid bul largest style navig qual divers relevant core celebr cold perhaps
fascinating hyp alone den summer rock effectively member basis approx config peace gender applied completely
equal stra decided element worth tou coast distance setting policies promote default wrong coll purch involve
layer academic distinct princ teeth cop findings py north father tru detect hosp fully rise educational anti
surg cand email fix running note figure currently mathemat economy math signs emotional watch repe son instruct
bodies imag enter moving profession map mob risks pet giving wanted worked schol occurs wrote joint miles
insights comfort lived evolution master woman coming alternative cry specifically assum reality ord picture
extrem passed factor choice lat capacity occup king cities gir south intellig compar adjust finding trend
contract phen genetic index imagine surpr distribution rand gold faith topic assist weak citizens died societ
changed famous store federal games birds operations illness female refers nutri resistance actual commonly
happens commerc easier regions sexual requirements placed becoming deeper strength atmosp former exhib helping
experiment rat presence sample happen price track pregn populations evol anyone thousands excess identified
feeling formed monit vital starting drugs sem univers winter changing vary showed urban reducing rot sharing
diabetes prepar remove expression fruit defined foreign counter opin gets topics solid label random attract
direction unf advanced healthcare eventually tasks mal letter mouth connected comprehens tox wa feelings
situations ball plans vill advance board filled mentioned hair immune stim readers ready resulting pen unc
awareness consumption partners lessons hop glass despite bond causing sort pieces train conclusion separate ign
sac lib blue tele bed playing thoughts chance spect experim dial eight technique pref garden interpret believed
approaches experienced infl pick id vision increases hom gave staff row expert depending sustainable manage
medicine error baby encourage cultures belong compl divid mission presented outcomes billion native professor
observed church contrast frequently appears cogn relatively income classes walk businesses engage column wonder
majority conv emissions plays suggests truth buy discussion helped languages files onto circum records advent
heavy felt reference tissue coord sounds creation processing ap office transfer internal plastic height
characteristics option format fert river improved reports increasingly prefer turned motiv disorder liqu
immediately sav alcohol notes ensuring disorders mist engineering muscle clinical represents classroom male
industrial gene race conflict institutions colors generation iron vul algorith diversity anxiety interests
enhance dive participants elif jo release college transl homes commercial trig metal maintaining antib
approximately win introduced party leads elim violence religion challenging facilit remov ingred consequences
vast meeting mo decades breast storage advoc clearly temperatures justice freedom tour film court pp aren huge
nutrition speech territ focused insect units multi practical milk buildings independent career engaging strategy
emotions pric assessment seek batter statement replace excell keeping dri creative cycle minor studying treated
settings extremely phenomen experts continues interested correspond primarily cook conducted depression collabor
pret electricity survey bottom star ju trou isol hear trib campaign wis organic pul flex notice widely
efficiency carried dram prepared spot legis generations sand framew grant bud secret bone highest spring synt
wall combination drive pros string household extract favorite moved artists movements invent perspective
performed familiar thick played recommended conservation chronic operation spiritual song spent fundamental
gather seven worldwide library meant signal responsibility choices saying beliefs environments fine cultiv
volume oxygen conver vulner suppl ple adding professionals consult covered doub failure kid properly mel poly
external university remind pal incred dra syn landscape significance served embra happened arm degrees impacts
articles item centuries seeds title lesson advice cast examine dogs seed plot generate carefully papers samples
upper origin ocean agg highlight smart mere letters round closely component screen array mer satis containing
finally volunt roll figures send wealth previously potentially impl rul ecosystem adop amounts networks inflamm
looks released err referred describe injury flood purposes vegetables owners https destroy confirm aid nuclear
linked jobs pu seeking pages accurate advantage president ourselves god tum leaving radio straight traditions
convent meat dangerous removed surgery capable battle estimated formation ongoing credit promoting comment roots
roles explained tail maybe mostly radiation reb enable possess pollution sou sets relative otherwise apart horm
grade subjects push recognize square vess guidelines victim neuro charg phase upd revolution eggs rain
determined tal secure argument faced atmosphere motor vitamin pun voice combined nor definition treatments
farmers genes infections sports technical intelligence args monitoring grand circumst appreciate earn supported
reaction facts taught frequency dict annual manufacture worry involving periods official looked faster noted kn
barri whom collaboration offered knew spend cognitive talking authority hour ultimately nations helpful renew
slightly answers please charge hearing discrim align showing completed grass killed scholars lung mit hit ideal
tiny consid existence reached stream cere substant description vent excellent cris truly perspectives improving
salt reduction smooth maximum tooth island proposed die traffic knows enab yield exposed obvious brief kept glob
phone bank candid electrical layers particles interview chemicals kinds solve acknow amazing deliver exchange
raised parties intended operating sufficient discipl muscles remained goods flowers offering certainly drawing
coal firm sche ban indicate motion immig subsequ computers extreme regional selected themes governments marg raw
views regul affects depends liquid sett hyper follows double flat closer youth resist fruits ship regularly
funding dro nutrients happy appoint conclud creates internet edge frag returned spaces fort wasn texts handle
thin tips discovery mort suggested fab bird rein asking cert kill hospital nerv mainly hidden informed begins
innovative dedicated medium investment procedure rapidly abuse careful proteins tried waters forced absol
documents doll disapp storm clim diagnosis southern toxic bright supporting moist circumstances client fluid
occurred stone behaviors leadership procedures prepare window leader stars foundation consistent manner millions
suitable intellect sector brother selection poet lies mode yellow employees pictures station infrastructure
loved accompl morning pretty era domestic biological ingredients underlying explan skill decide vehicle join
match interactions bow northern formal du settle drop instrument prices collected thor pray wear walls obst
guidance instruction elev delve neighb wet harmful persist appearance recorded virtual oral click snow haz
corpor poverty variable sudden extent database remark links driving fostering facilities courses resol foss
moral drinking west wait discussed feedback emergency tro depth sensitive strengthen amb serves detailed blog
entirely communicate filter minimum cutting listen presc fill define struggle sides institution introduction
recovery lots chain examining messages touch sen agricultural shel girls perman starts shif claims hero speaking
controlled comprehensive innovation typical attacks responses shaping regulations largely stages enem audience
addressing matters paid vaccine lose rural sell park grown recognized consists chosen exists traum drink liver
mechanisms sequence cm band ahead restrict habitat torch accepted metab intervention wants cars trial politics
node agriculture ancest police fro reprodu weap adequ aimed assistance latest diam prompt cooking ment
interaction crops opening opinion absorb neut successfully sin phr studied variables fiction stret dut
narratives harv knowing proport nit stem script budget crisis wave hundreds catch server divided indigenous
reform adopt couple transition relax entry afford discussions protected residents measured survival doctors
session apparent download accounts naturally calls allerg acts neighbor vehicles critic principle positions
parameters suffering machines beauty gar alt universe implications stock representation hunt af brand
medications walking exploration therm attend reject resilience shapes waves department tun nearby ethical
distingu coff conscious simpl trends astron creativity maintenance generated intric boundaries visible
understood san stronger shift ce cardi wire concerned curriculum broader prevention frame wildlife tells immun
concentration confidence portion massive inner framework boost producing sick remaining mobile wife kil habits
rig officials implementation assemb gained substance abilities army obtained engagement managed managing sweet
signals cloud greatest east desired appeared programming narrow switch noise witness seeing sed advis nurs fif
ath architecture expensive improvement overl conventional explains demonstrate floor reader crim designs nan
decrease recognition pregnancy experiments fold taste manip stored suc impossible electronic marked imper pure
tested sentence locations soldiers satell gun pig inflammation failed injuries paralle customers persons
manufacturing slowly prev brown rail philosophy considering unless foster transportation toler closed facing vs
sky western exercises km capture recip horiz instructions everyday participate horse indeed players fle defic
enables ages pand revealed kit platforms prem prison exciting agreement artificial therap stick cos mac rhy crop
remote shop derived dental inches secondary stands competition tit fixed pil agreed pair monitor incorporating
float composition rub consumers mixed photos extended heritage chart psychological standing possibly usage
syndrome vibr arrange uns forests plate turns ensures dynamics depict pip inspired museum director incredible
sole repeated authent deaths passion evaluation analyze shell protocol mathematics susp beneficial writer pull
examination bones bot intellectual literary agencies arms stated theore achieved unknown organized medication
expectations resolution village marine accuracy thread employed supports whereas opened errors writers
meaningful confident score adopted limits categories dust recycl deeply bio powers arts describes functional
arguments childhood ethnic represented evaluate arrived demonstrated tur forget har emerging reactions scene
lect comments manif explo brings conversation abund distributed appreciation realized dynamic fell
administration door houses inhab holds listed suffer rely wisdom extensive cart aqu worse ble collective
behaviour negot grew pump accel decline supplement industries diss flight fewer leaf insurance unus transmission
infected blocks intake healing zero presentation ratio camera fertil possibility technological alongside chief
immediate marriage coffee creatures matrix normally mountain discrimination seemed empathy steel survive
fighting molecules twice density gall comfortable markets returns desire numpy indicates navigate learners tall
missing moon applying colleagues couldn authorities latter broken alle wish din expressed breathing insight
pursu compare younger lifestyle societies advantages willing guess societal publication prove styles
observations inject necessarily publish strict simultane gal painting update optimal commitment fant mamm
listening continuous housing supplies crime debate axis focuses agency shut vulnerable myth constit category
compr coun succeed fav participation aer tf organisms greatly domain adventure preval instruments accum
originally fabric thereby fly depos electron ear sections circuit eld regist dealing engaged verb turning
difficulty emerged breath physics photograph ends artist threats thanks fellow bread mechanism meal holding
accessible orient deli independence sight indu consideration district whatever guarant battery ske grid teams
employment objective magnetic antibiot complicated serving aircraft empt funds warming reliable waiting
stability cards opposite bear drain accident trained routine trip uncertain insects doubt maps sod delivery tap
unexpected occasion chick sought administr flag laun meals affecting editor logging consumer preparation noticed
module attached false spending characterized reduces concerning split stake acids substances player demands
initially encounter plt theories curiosity stable beings heavily alter fossil adm comparison border vessels cup
corn teen butter sales widespread produces summary calcium purchase mathematical enthus partner drawn regardless
newsp stomach forth complexity compounds remarkable profound surve fiber humanity df unable reven dance none
inherent cong lic tea racial pron putting permanent contributions inhib launch rid mood adequate clothing perm
troops reserv preventing smoking hus convey proceed influenced json expansion delay legs surfaces criteria
happening replaced swim operate oblig joined trouble subsequent overw committed cul lens limitations initiatives
mand decade angle concrete insert forg substantial subs tu gone mys asp channel street focusing craft dent
refuge cryst hypothes centers conference protecting disturb conflicts colour facilitate territory fract vac
percentage runs tut chrom laboratory fashion realize mild labels zone reward introduce gluc aims minds wouldn
detection rice roof seconds athlet preserve symbols ru resulted decor controvers intent inequ reveal trials
flour veter sacr gap installed theme investigation proof jump sheet constitution stuff neck daughter
neighborhood alike bridge mitig disrupt libr recommendations identifying interf adj route prominent biggest
conven receiving shot encourages feels graduate depart enabling passage warn gram curious emotion relation
contained argue gradually excessive corner thesis constantly barriers dream hydrogen engineers nine membr crow
unw liv entertain integrated merely providers neur moves dialogue hole equivalent estimate pra sustainability
doi founded greenhouse feeding presents interpretation biology analys vote advert printing accommod implemented
statistics musical satisf twenty amid evolved calculate seg agents honor differently correctly educators recept
artistic possibilities moisture expertise abstract nerve robust colonial grad rising treating married shad
supposed thousand whenever intricate plenty ended division myself interventions measurements conversations
equally contamin measurement epid unusual spok instances difficulties targets legislation relief capabilities
cust dioxide sys combat requiring branch mm bringing pool phenomenon estimates owner outcome debt ped parallel
overwhel rivers objectives mechanical effectiveness assume nic nob controls tissues destroyed discussing ille
integration od specified overcome sched paint obesity diagnosed ran acknowled comprom stimul www cats outl
passing algorithms minimize performing minerals biod wel clients joy repair fairly meth pup disput notable movie
boy furn historic award solving contributing batch explanation explicit finished frequent farming flav covers
reput convert handling universities rocks developments danger customer parser kne myst dataset algorithm transc
lights experiencing cholesterol mur strongly ships structural exception simultaneously tag scan universal organs
forming scores videos specialized shed pharm neither newly embed fest victims visitors sizes spin sport bath
nervous cleaning realm association nu stores dys damaged eastern respectively encouraged trauma representing
electro tank sessions fu voltage circle influences contributed adds outbre icon fer defe sharp practition
observe correl smoke computing statements launched resident reaching peoples bigger mining myster button reson
molecular rhyth tack equality poetry attempts intense banks blind extraord mice coastal integr transformation
gent weapons mir isinstance flo psychology observation puzz somewhat container empower qualities branches
criminal regulation carb friendly inn watching shaped auton formula rom empty incorporate issued bonds archae
fever linear faces websites carrying moments defense digest stroke agent productivity entered rect sitting
assigned photo boys mos essentially rank variations poison constructed permission inher captured marks
corresponding chances schedule descript blow encouraging abandon destruction caught stead updated viruses
compassion judge mask literacy displ plus peak printed compens wellbeing ranging volcan width escape actively
robot personality pit enemy strategic undert versions cyber surprising glucose modified efficiently burning
workshe sunlight arise inspect rab sla implementing ecosystems renewable promise ampl meters hun await
practicing narrative cav dates emphasis tables approved posit females marketing preferences nose explored
composed classic tub planned sad girl desert weakness kidney disaster automatically announced mixture scientist
url mortality assets babies ordinary expressions improvements purs keeps precise dimensions slavery render poem
indicated analyzing proven considerable tube males falls lingu paras ring attach brush inspiration signed legisl
guard channels insulin profile db availability panel resid strain proportion laid traits wonderful pin memories
cash proved tons declared dispar measuring uniform cycl finds origins disabilities wine extend targeted
varieties rac counsel heating senior dependent perception plane satellite sensitivity epis preparing enhancing
preserving norms attitudes identification tact club scenario exhibit mold defend interface usual tension
election provider safely equation microb county chest privacy removal quiet contribution scope dollars inhabit
husband peer choosing roads vel hem inspire sampl respiratory metabol sensors vocabulary celebrate wound
connecting outer tract intensity extraordinary experimental facility audio marginal faculty windows ecological
ritual protective finger dispos driven irrit imaging turb warning horses gut feat decreased lie maintained
prospect coverage minute opinions stere vector essays absolute galax theoretical spectrum microsc alive honest
driver interactive prohib calculated honey soph giant intrig coc captiv strange dietary earthqu advances
anywhere hur pounds defect spir breeding translation processed templ varying cooperation officers silver
abnormal evil ceremon paragraph van encomp recover reporting holes query rarely flower complications losses
migration tick principal eliminate reverse covering scenarios intest haven reasonable bias profit sentences
accompan copper cream television roughly recall taxes absence centre seemingly package compound perceived
dominant claimed committee fault commission hardware flavor physically embracing trace islands accurately orbit
consume collections functioning pregnant mutual coding dil reflection suscept radical cab balanced ven crew
variation memor tip fing minimal dish fourth logic embark conqu flows confirmed edition lists arrest harder lock
heads requests consciousness ov designing wheel investigate tow breaking flexibility nodes grain soul cham
references info examined quantum fo batt wondered vertical vibrant flexible duration opposed rational lake
herself lighting ye parameter brow authentic phrase chlor mountains contributes granted libraries fishing
screening bag surprise superior acquired manifest rose spark hazard anticip calling probability calories
researcher achieving curve detected delivered worship pond bene mineral grows tempor loop sensor classical fra
landscapes exceed peers dose saved numer sculpt temple preced extension competitive propag phenomena motivation
songs globe appeal democracy infant absor unders visited ease biom diameter dishes isolated clothes cooling
determining towns copyright beneath password expanded cas determination pandemic advancements alternatives surge
stations enhanced neural suffered compos frust temporary gast chemistry contexts versus manager habitats raising
disability breed losing aest grains stakeholders blank ordered elsewhere keys elder gathered wheat unity
visiting les hier submit luck happiness drag adolesc earliest hence addressed hormone excited tribes suddenly
controlling exhaust telling aged conj columns acute edges directions asc tropical countless parad saving voices
acting mine hunting seat terror buff bomb manual viewed satisfact union disag decay stopped occurring chose fed
integrity stones candidate combine preferred thermal scr nitrogen pestic legacy gently cluster achievement
streets magic farms phosph shoot falling removing tales tight equipped spatial amidst grades bacterial
attributes involvement highlights vig quantity genu definitely asthma evening illegal paying duty wearing
vitamins suit directed cort elected calm discipline pointed separated nutrient magical plain auto differ writes
trigger divine mistakes breaks pd ownership span manufacturers orders philosoph physician laser dictionary
solely shock courts responsibilities segment flying planting concentrations fatty nom logger paths sacred fats
gentle lip secre gases doors perpet argued healthier inclusive alert toys neutral perfectly drought addiction
pairs dramatic degrad specim clock chair metals finish cattle biodiversity royal mic incident mg obstacles
panels dipl analyses slaves chap fought tough characteristic recognizing spoken cardiovascular tone nice subt
ton enorm planets entering mock worst slave pla imagination manuscript practitioners advers spots candidates
behavioral establishing clar graphic moderate priority expanding notion hurt staying audiences atoms contents
concluded charged clust combining pion adapted avoiding om identities stood export intention oldest transmit
exped predicted wat settlement popularity tob params drivers customs tong evident lungs communications gravity
bees wise gest lecture welfare patience enterpr wider accomplish initiative flash restaur regarded occas gif
owned engines cotton grab quarter lasting steam reflects meditation regulatory struggles promising films
restrictions selling delicious continuing strike tumor hospitals reveals photographs establishment meetings
consistently illustrate mouse buying aging crypt analog spl antibiotics femin attitude tric fur relie reviews
devast irrig adverse tom shares tobacco juris illnesses polar sciences consumed athletes mothers novels judgment
distances celebrated batteries believes hall executive therapeutic threatened unlikely tracking vaccines apps
weigh acceptance adaptation carbohyd conversion cord entreprene wars transformed fuels directory prime
assignment existed supplements cond scenes confusion everywhere lifetime discoveries pose membrane privile
inputs programme enum entities fatigue hygi acres thrive reinfor influential journals consent statistical
payment threshold critically promotes codes eru applicable chicken storytelling sending essence logical assembly
token compliance participating demonstrates precision accompanied gover addresses comprehension converted
medieval enthusi unlike forecast dating cycles courage households buried joints deficiency reconst exch armed
legend chocolate mosquit cure register collecting harmony compost restore dairy configuration settled cv
requirement powder hypothesis debates juice vegetation pressing publications beat drinks conserv opposition
proud inequality explaining isolation tomat reaches sophisticated gods relate bless positively lymph killing
boat antioxid hormones displayed ethics wal reputation corporate prayer excite estate incent workplace coron
precious enjoyed license withdraw varied spoke equations resc spray revol wra classification utilize
considerations suggesting officer aside publ pill savings gardens autism worker yes reflected complement forever
thorough portray quantities clay classified deploy assumed zones lon accordingly spreading paintings interior
posts anger fitness outdoor currency suggestions assumptions applies sevent governing recycling immigrants
ancestors strengths violent disadvant texture orientation emerge herb cub economics accounting ham likelihood
colonies borrow shorter mini prosper kitchen pets ignore lowest crown partial convin inhabitants overview
tailored schedul ol neurons nutritional genome distant enforcement fires orth holiday seriously grounds mature
aggressive revenue appointed pace legit cow repeat featuring subtle bare employee hat personnel victory beans
brid recre persu utility brains thank indirect prey illum harvest basically striking scheme urine developers
cancers calc finance surrounded loyal ears sequences anthrop recording copies datetime selecting integral
homework movies viral stack precisely struggling captivating null borders medicines circulation designated
painful fr bin replacement draft kingdom rows newspaper tor managers evolving summar disagree definitions dreams
acceptable coat criticism identical teachings impair wooden ion worlds lob enormous vegetable penal somewhere
cher importantly relevance reasoning tends ultimate predictions sectors sau separation describing surgical gaps
fan restoration bol safer associate tab nuts basics thoroughly backgrounds boxes scales cha gate tang que caps
collaborative nest celeb gathering begun sale navigating shifts ranges varies subsc constraints distinguish
sodium fingers independently evolutionary virtually telesc tale fantastic preservation layout suspect modeling
img hal scar busy productive streams reproductive assessments fraction commands sister dies orange seam
districts minority twist funded reserved trading genre prevalence barrier dress gift trem permit infants
designers embrace mystery template compat execution grace democratic conclusions factory transmitted safegu wash
grasp proposal inclusion partnership temp occasionally traveling representative investments reflecting buck
divide compelling oils repet encountered cheap burden fisher comparing readily filters harsh precip unnecess
rooms amongst tape parks vessel containers dropped crimes dimin governance weights adoption chromos pushing rh
dtype shore registered dense belonging tolerance pel impressive entity regulate acknowledge analyzed sees
province heaven destination cheese digestive pix harness dissol excitement hybrid innovations uncertainty
diagnostic mapping soils cough annually rent optical visits sug sovere accord passes gly msg transf sensory
serial sampling outbreak placing indicating freely severity provision offset persistent sulf cater prolong
django ende pursue scal particle artif labour resistant routes transactions gum invention centered advisor
submitted bool diets crack eager generating smell speakers pod integrating absolutely revers occupied grammar
respective regime reign padd electrons bub hydro nn opens colorful resolve surviv disciplines entit bat shoes
spacecraft cited spinal menu underground disk morph shouldn bears prescribed purchased distract expenses
transplant merch delicate searching churches develops photography phones skilled attending civilization displays
livestock ash planted territories neighbors dimension apparently cig boundary loud observing volunteers pilot
delight investors tongue nurt literally welcome inev cuts linguistic hygiene bite duties lean colony magnitude
embry installation overwhelming religions horizontal swimming clouds resemb plug attractive pupils gear shelter
municip glac debris tort deals inch distinctive embedded systematic bags tech beach synthetic documented
juvenile sheets preserved accidents penet incorporated symb cellular conducting metabolism deer retain prevents
developmental equity broke bottle fet sel teaches invasive throat intr highlighting engineer multip thyroid puts
guarantee consuming rotation mammals hazards lakes rib ending operational satisfaction reef enrich rough
documentation recipes altered verte specialist speaker ruled elderly susceptible attribute incidence suicide
tackle discomfort interconnected wings soy residential struck bullying plates dramatically citizen campaigns
punishment attributed speeds acquire utilized velocity absorption transferred totally wing surroundings symptom
circul historians inspiring cosm bought arrival throw returning sleeping continent ok golden restricted desk
loose villages sediment neurolog outline obj surveys knee intersection consequence dried predom till translated
diving stabil simulation mobility locally elections bleeding unem eleph therapies geographical oceans elevated
enabled certific elab colored workshops contrad oste toy rainf affairs herbs abundant immigration affordable
setup refused endangered loan counts genuine rays improves producers gray overs progressive ster empire updates
ride irrigation bits nursing hack tourism cable carries pathways intriguing administrative descend cann
consisting racism arthritis actors interviews flavors abundance hopes explicitly achievements defining mistake
ft contamination binary radi distinction teens incredibly infectious gro robots sheep emphasize winds cultivate
binding drives attempted retail unnecessary hob erosion python kg filling dementia diarr trick checks stew
adolescents diplom circles invasion typing seasonal stems philosophical pipe entertainment filename jew checking
hide allergies settlers bron evaluating diver assistant semi approval browser gre advocate amino alpha
functionality imagery hes liberal realistic enzymes facial complexities undergo protocols emit comprehend seeks
alumin calculations activation beam holy rainfall brilli trail demonstrating charges rigorous rejected heal
lunch organize cloth distribut nam tumors excav tast piv diagram abandoned imperial mas attended intermedi
arranged vot missions sle receives elementary multipl vine arrive anch patent architectural explores cameras
gran shoulder frameworks stretch arter twelve shopping landing pride patch circular careers confused bind
strains metabolic secrets discharge rehab intelligent rhythm afternoon hung beta kindness camps hearts pollut
progression anat perf adjacent entitled subsid straw featured combinations atmospheric wake gains bust
indicators molecule spons inflation swelling representatives controversial collapse introducing trav tendency
sons anx intens invented fifth correlation calendar celebration digit harmon economies raises cooked friendship
prol instant earned asks elig completion fate bee bold competing weekly fibers injured publishing mes meanings
optional personally spine guides encompass adventures combines relating campus worksheets consistency agreements
evaluated pale mi cope dinner angles kernel lemon germ reviewed nod header presenting poems uncover hip
histories noun weren broadcast cyl convenient immense continuously operated assignments firms partly posted
mirror cataly institutional earthquake globally metadata deposits geometry officially arbit distress metap
contaminated systemic mutations thirty recipe offices invited employers bull representations absorbed
departments markers favour magazine guided shade predators sacrifice steady refugees insu supportive attempting
transparency rend strive painted tower iter qualified pesticides investing seal writings sch vag descriptions
footprint survived exhibition thickness doses chamber meets pest gaining slight mindfulness humidity static
pests ow wondering sorts monthly salmon organism timing phrases mart font associations relatives electronics
folk commod partially manufacturer lift grapp pleasure answered heter worn chat endless dispers talks blo
accompany doctrine impression defines synthesis dentist advertising entrance coordination titles battles
organizing modify categor refrig accessibility folks photograp arrangements atom merg prevalent yields burned
discourse sustained highlighted washing enzyme appointment wage ber incorrect implies surveillance interval
extends tied minister diamond brothers pressures warrant utilizing printer unpre limiting subsequently fears
afraid basket accomplished executed acquisition cave mail rooted offs grants traditionally pneum drops asset
psychiat pitch partnerships surprised physicians aspir muc influenza ul tribe modes payments dying artwork
contracts tracks pine enjoying assault crafts similarities gau prox grat completing bills dangers provisions
fulf evolve peaceful sail admin quad council abol revolutionary arrangement constitutional volumes mysterious
chains soap extr picked expressing occupation apple disasters enemies compensation pink exit namely allergic
workshop seiz vom prone indoor ingredient slic
"""


@cache
def _ranks() -> dict[str, int]:
    return {word: rank for rank, word in enumerate(_WORDS.split())}


def rank(word: str) -> int | None:
    """``word``'s place in the list (0 is the most common), or None when it is not in it."""
    return _ranks().get(word)
